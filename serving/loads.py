"""Which model loads run: a window of versions that may become the served one, plus one
pinned lane, and nothing else.

The window (at most `concurrency` versions, chosen by `LiveModel.reconcile`, best first)
always runs: a load that leaves it is cancelled and its probe child killed, unless a pinned
request waits for it. Loads for pinned requests queue for the pinned lane: one at a time,
started at most once per `pinned_interval` seconds. A load whose folder changed (or went)
is cancelled whoever waits for it; waiters get `LoadCancelled` and look the version up again.
"""

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from regwatch.registry import VersionIndex, VersionState

from .errors import LoadCancelled, LoadError, LoadPending
from .loading import LoadedModel, ModelLoad
from .policy import LoadPolicy

log = logging.getLogger("regwatch.loads")

Outcome = LoadedModel | LoadError
SLOT_LEASE = 10.0  # seconds a load holds a shared slot at most


@dataclass(eq=False)
class Load:
    """One load under way, or queued for the pinned lane (`task` is None)."""

    job: ModelLoad
    outcome: asyncio.Future[Outcome]
    pinned: bool = False  # a pinned request waits for it: kept when it leaves the window
    task: asyncio.Task[None] | None = None

    @property
    def state(self) -> VersionState:
        return self.job.state


class Loads:
    def __init__(
        self,
        index: VersionIndex,
        policy: LoadPolicy,
        finished: Callable[[Load, Outcome], None],
        *,
        concurrency: int,
        limiter: anyio.CapacityLimiter | None = None,
        pinned_interval: float,
    ) -> None:
        self.index = index
        # Shared by every model: loads under way across the whole service.
        self._limiter = limiter
        self.policy = policy
        self.concurrency = concurrency
        self._finished = finished
        self._pinned_interval = pinned_interval
        self._pinned_started = -math.inf
        self._pinned_timer: asyncio.TimerHandle | None = None
        self._window: list[VersionState] = []
        self._loads: dict[str, Load] = {}
        self._closed = False

    def for_pinned(self, state: VersionState) -> Load:
        """The load of these files a pinned request waits for: one under way, or a new one."""
        if self._closed:
            raise LoadPending("the server is shutting down")
        load = self._loads.get(state.name)
        if load is None or load.state.fingerprint != state.fingerprint:
            load = self._new(state)
        load.pinned = True
        self.schedule(self._window)
        return load

    def schedule(self, window: list[VersionState]) -> None:
        """Cancel the loads nobody needs, start the window's, then the pinned lane's next."""
        if self._closed:
            return
        self._window = window
        wanted = {state.name for state in window}
        for name, load in list(self._loads.items()):
            state = self.index.state(name)
            stale = state is None or state.fingerprint != load.state.fingerprint
            if stale or (name not in wanted and not load.pinned):
                self._cancel(load)
        for state in window:
            load = self._loads.get(state.name) or self._new(state)
            if load.task is None:
                self._start(load)
        self._start_pinned(wanted)

    def _start_pinned(self, wanted: set[str]) -> None:
        if any(load.task is not None and name not in wanted for name, load in self._loads.items()):
            return  # the lane is busy
        queued = next((load for load in self._loads.values() if load.task is None), None)
        if queued is None:
            return
        loop = asyncio.get_running_loop()
        wait = self._pinned_started + self._pinned_interval - loop.time()
        if wait > 0:
            if self._pinned_timer is None:
                self._pinned_timer = loop.call_later(wait, self._pinned_timer_fired)
            return
        self._pinned_started = loop.time()
        self._start(queued)

    def _pinned_timer_fired(self) -> None:
        self._pinned_timer = None
        self.schedule(self._window)

    def _new(self, state: VersionState) -> Load:
        stale = self._loads.get(state.name)
        if stale is not None:
            self._cancel(stale)
        job = ModelLoad(state, self.policy)
        load = self._loads[state.name] = Load(job, asyncio.get_running_loop().create_future())
        return load

    def _start(self, load: Load) -> None:
        load.task = asyncio.get_running_loop().create_task(self._run(load))

    def _cancel(self, load: Load) -> None:
        """Forget the load and kill its probe; whoever waits for it gets LoadCancelled."""
        if self._loads.get(load.state.name) is load:
            del self._loads[load.state.name]
        load.job.cancel()
        if load.task is None and not load.outcome.done():
            load.outcome.set_result(LoadCancelled("cancelled before it started"))

    async def _run(self, load: Load) -> None:
        outcome: Outcome
        try:
            outcome = await self._leased(load)
        except anyio.get_cancelled_exc_class():
            load.job.cancel()  # shutting down: kill the probe rather than wait for it
            raise
        except LoadError as exc:
            outcome = exc
        except Exception as exc:  # a bug, or the OS refusing a fork: still a clear failure
            log.exception("loading %s failed unexpectedly", load.state.name)
            outcome = LoadError(f"load failed: {type(exc).__name__}: {exc}")
        if not load.outcome.done():
            load.outcome.set_result(outcome)
        if self._loads.get(load.state.name) is load:  # else cancelled: nobody needs the result
            del self._loads[load.state.name]
            self._finished(load, outcome)

    async def _leased(self, load: Load) -> Outcome:
        """Run the load holding one of the service's shared slots for at most `SLOT_LEASE`
        seconds: they bound how many loads compete for the CPU at once (100 models starting
        together), while a load that takes longer (a big file, or one that hangs until its
        timeout) runs on without its slot, so no other model waits behind it for long."""
        if self._limiter is None:
            return await anyio.to_thread.run_sync(load.job.run, abandon_on_cancel=True)
        async with self._limiter:
            running = asyncio.ensure_future(anyio.to_thread.run_sync(load.job.run, abandon_on_cancel=True))
            try:
                await asyncio.wait((running,), timeout=SLOT_LEASE)
            except BaseException:
                running.cancel()
                raise
        try:
            return await running
        finally:
            running.cancel()  # only when we are cancelled: the thread is abandoned, the probe killed

    def close(self) -> None:
        """Shutting down: kill every probe; whoever waits gets LoadCancelled."""
        self._closed = True
        if self._pinned_timer is not None:
            self._pinned_timer.cancel()
        for load in list(self._loads.values()):
            self._cancel(load)
            if load.task is not None:
                load.task.cancel()
            if not load.outcome.done():
                load.outcome.set_result(LoadCancelled("the server is shutting down"))
