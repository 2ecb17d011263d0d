"""The gate the predict path passes: which version to answer with, held during a flip.

`async with gate.enter() as target:` costs a counter update when no flip is in progress.
While a fence is up it waits (bounded by the hold timeout) for the commit; a replica that
does not have the fleet's versions loaded refuses at once with `FleetNotReady`, which the
service maps to 503. Requests in flight are counted, so a replica acknowledges a fence only
when no answer with the old target is still being computed (none can start under a fence).
"""

import asyncio
from types import TracebackType

from .rules import Active, Target, answer


class FleetNotReady(Exception):
    """This replica cannot answer for the model now (HTTP 503; the message says why)."""


class ModelGate:
    """One model's gate on this replica. Changed only on the event loop."""

    def __init__(self, model: str, hold_timeout: float) -> None:
        self.model = model
        self.active: Active | None = None
        self.loaded: frozenset[str] = frozenset()
        self.answer: Target | None = None
        # False between a reconnect and the re-read of the pointers: the pointer may be stale.
        self.current = True
        self._hold_timeout = hold_timeout
        self._changed = asyncio.Event()
        self._inflight = 0
        self._drained: asyncio.Event | None = None

    @property
    def ready(self) -> bool:
        """Can this replica serve the fleet's (active or incoming) target of the model?"""
        return self.active is not None and self.active.target.versions <= self.loaded

    def update(self, active: Active | None, loaded: frozenset[str], current: bool) -> None:
        """Apply a pointer, a loaded set and whether the pointer is known to be current."""
        if (active, loaded, current) != (self.active, self.loaded, self.current):
            self.active, self.loaded, self.current = active, loaded, current
            self._changed.set()  # wake held requests: they re-check
            self._changed = asyncio.Event()
        self.answer = answer(active, loaded) if current else None

    def enter(self) -> "Pass":
        return Pass(self)

    async def acquire(self) -> Target:
        target = self.answer
        if target is None:
            target = await self._hold()
        self._inflight += 1
        return target

    def release(self) -> None:
        self._inflight -= 1
        if not self._inflight and self._drained is not None:
            self._drained.set()
            self._drained = None

    async def drained(self) -> None:
        """Return once no request is in flight (called under a fence: none can start)."""
        if self._inflight:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    async def _hold(self) -> Target:
        try:
            async with asyncio.timeout(self._hold_timeout):
                while self.answer is None:
                    if not self._switching():
                        raise FleetNotReady(self.reason())
                    await self._changed.wait()
        except TimeoutError:
            raise FleetNotReady(self.reason() + f" (held {self._hold_timeout} s)") from None
        return self.answer

    def _switching(self) -> bool:
        """Is an answer imminent: pointers being re-read, or a fence up for a loaded version?"""
        return not self.current or (self.active is not None and self.active.fencing and self.ready)

    def reason(self) -> str:
        if not self.current:
            return f"model {self.model!r}: re-reading the fleet after a reconnect"
        if self.active is None:
            return f"model {self.model!r}: the fleet has no active version yet"
        missing = sorted(self.active.target.versions - self.loaded)
        if missing:
            return f"model {self.model!r}: fleet version {', '.join(missing)} is not loaded here yet"
        return f"model {self.model!r}: switching to {self.active.version}"


class Pass:
    """`async with`: the target to answer with, counted in flight until the block ends
    (or `await acquire()` ... `release()`, for a caller that cannot wrap a block)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: ModelGate) -> None:
        self._gate = gate

    async def acquire(self) -> Target:
        return await self._gate.acquire()

    def release(self) -> None:
        self._gate.release()

    async def __aenter__(self) -> Target:
        return await self.acquire()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
