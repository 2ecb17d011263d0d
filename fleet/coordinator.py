"""One replica's membership in a fleet: what the service calls, and the loop across sessions.

The service tells the fleet what it wants (`want`: the version it computed from the
volume) and what it can serve (`set_loaded`: loaded and warmed), and asks it what to
answer with (`gate`). Everything else runs in `run()`: on every (re)connect a new
`Session` (session.py) joins, follows the members and the active pointers from scratch and
heartbeats; across sessions this module attempts the compare-and-sets of
`rules.next_step`, and leaves at the end. NATS being unreachable only freezes the fleet:
every gate keeps its answer, no pointer moves, and `status()` says so.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Self

import anyio
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError

from regwatch.events import utc_now

from .config import FleetConfig
from .due import Due
from .entries import POINTER_PREFIX
from .gate import FleetNotReady, Pass
from .link import NATS_ERRORS, Link
from .local import LocalState
from .records import Canary, MemberRecord, Pointer, encode
from .rules import Step, Target
from .session import Session
from .status import Counters, FleetStatus, ModelStatus
from .store import Store, open_store
from .stream import FleetEvents

log = logging.getLogger("regwatch.fleet")


class FleetUnavailable(Exception):
    """The fleet's NATS server has not been reached yet."""


class Fleet:
    """This replica's view of the fleet and its part in switching versions."""

    def __init__(self, config: FleetConfig, on_change: Callable[[ModelStatus], None] | None = None) -> None:
        self.config = config
        self.counters = Counters()
        self._local = LocalState(config, on_change)
        self._incarnation = secrets.token_hex(8)
        self._settled_at = 0.0  # no pointer writes before: see _on_link
        self._store: Store | None = None
        self._link = Link(config, self.counters, self._on_link)
        self._session: Session | None = None  # the connected session (None: between sessions)
        self._joined = anyio.Event()
        self._record_due = Due()  # our record changed: write it before the next heartbeat
        self._decide_due = Due()  # the view changed: a pointer write may be due
        self._scope: anyio.CancelScope | None = None  # the session's, cancelled on a disconnect
        self._runner: asyncio.Task[None] | None = None

    # -- what the service calls ----------------------------------------------------------

    def gate(self, model: str) -> Pass:
        """`async with fleet.gate(model) as target:` (raises FleetNotReady: answer 503)."""
        gate = self._local.gates.get(model)
        if gate is None:
            raise FleetNotReady(f"model {model!r}: not known to the fleet")
        return gate.enter()

    def want(self, model: str, version: str | None, canary: Canary | None = None) -> None:
        """What this replica computed from the volume for `model`'s default traffic: the
        version (None: nothing) and the canary with its share, if one runs."""
        self._local.gate_for(model)
        wanted = None if version is None else Target(version, canary)
        if self._local.desired.get(model) != wanted:
            self._local.desired[model] = wanted
            self._due()

    def set_loaded(self, model: str, versions: Iterable[str]) -> None:
        """The versions of `model` loaded and warmed here (the whole set, each time)."""
        gate = self._local.gate_for(model)
        self._local.apply(gate, gate.active, frozenset(versions))
        self._due()

    def target(self, model: str) -> Target | None:
        """The fleet's target for `model` (committed or being switched to): keep it loaded."""
        gate = self._local.gates.get(model)
        return gate.active.target if gate is not None and gate.active is not None else None

    def answer(self, model: str) -> Target | None:
        """What this replica answers `model`'s default traffic with now (None: held or refused)."""
        gate = self._local.gates.get(model)
        return gate.answer if gate is not None else None

    async def joined(self) -> None:
        """Return once this replica has joined the fleet and read its pointers (the first time)."""
        await self._joined.wait()

    async def online(self) -> None:
        """Return once NATS is reachable (at once while it is)."""
        await self._link.online()

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def ready(self) -> bool:
        """Every model this replica serves has the fleet's version loaded (else `/readyz` 503)."""
        return self._local.ready

    @property
    def events(self) -> FleetEvents:
        if self._store is None:
            raise FleetUnavailable(f"fleet {self.config.name!r}: NATS not reached yet")
        return self._store.events

    def members(self) -> dict[str, MemberRecord]:
        """Live replicas (as of the last update; frozen while disconnected)."""
        return dict(self._local.members)

    def status(self) -> FleetStatus:
        return FleetStatus(
            fleet=self.config.name,
            replica=self.config.replica_id,
            connected=self._link.connected,
            changed_at=self._link.changed_at,
            ready=self.ready,
            models=tuple(self._local.model_status(gate) for _, gate in sorted(self._local.gates.items())),
            members=tuple(record for _, record in sorted(self._local.members.items())),
            counters=self.counters,
        )

    # -- running -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Run in a task of its own (the service's lifespan may instead run `run()` itself)."""
        self._runner = asyncio.create_task(self.run(), name=f"fleet {self.config.replica_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner

    async def run(self) -> None:
        """Connect (retrying), then keep the membership and the pointers until cancelled."""
        nc = await self._link.connect()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._decisions)
                while True:
                    await self._link.online()
                    with anyio.CancelScope() as self._scope:
                        try:
                            await self._sync(nc)
                        except NATS_ERRORS as exc:
                            log.warning("fleet session failed (%s); retrying", exc)
                            await anyio.sleep(self.config.reconnect_wait)
                    self._session = None
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.config.request_timeout):
                await self._leave()
                await nc.close()

    def _on_link(self, connected: bool) -> None:
        if connected:
            # Everybody reconnects after an outage, each at its own moment, and the server
            # has expired their entries meanwhile: write no pointer for one TTL, so every
            # replica that is alive has rejoined (else a late one might still answer the old
            # version). A replica not back within a TTL is gone, as with a missed heartbeat.
            self._settled_at = time.monotonic() + self.config.member_ttl
        elif self._scope is not None:
            self._scope.cancel()
        # Connected: hold answers until the pointers are re-read (they may have moved while
        # we were away). Unreachable: keep answering with what we have (the contract).
        self._local.set_current(not connected)

    async def _sync(self, nc: Client) -> None:
        """One connected session: a new `Session` each time, so a reconnect reads everything anew."""
        self._store = store = await open_store(nc, self.config)
        self._session = session = Session(
            store,
            self.config,
            self._local,
            self.counters,
            self._incarnation,
            self._joined,
            self._record_due,
            self._decide_due,
        )
        await session.run()

    # -- writing the pointers (across sessions), and leaving -----------------------------

    async def _decisions(self) -> None:
        while True:
            now = time.monotonic()
            await self._decide_due.wait(max(self._local.next_deadline(now), self._settled_at) - now)
            synced = self._link.connected and self._session is not None and self._session.synced
            if not synced or time.monotonic() < self._settled_at:
                continue
            for step in self._local.steps():
                await self._write(step)

    async def _write(self, step: Step) -> None:
        assert self._store is not None
        pointer = Pointer(
            version=step.target.version,
            canary=step.target.canary,
            phase=step.phase,
            previous=step.previous,
            by=self.config.replica_id,
            at=utc_now(),
        )
        key = POINTER_PREFIX + step.model
        try:
            if step.expected is None:
                await self._store.active.create(key, encode(pointer))
            else:
                await self._store.active.update(key, encode(pointer), last=step.expected.revision)
        except KeyWrongLastSequenceError:
            self.counters.pointer_races_lost += 1
            return
        except NATS_ERRORS as exc:
            log.warning("model %s: could not write the fleet pointer: %s", step.model, exc)
            return
        self.counters.pointer_writes += 1
        canary = step.target.canary
        log.info(
            "model %s: fleet pointer -> %s %s%s (from %s)",
            step.model,
            step.phase,
            step.target.version,
            f" with canary {canary.version} at {canary.percent:g} %" if canary else "",
            step.previous,
        )

    async def _leave(self) -> None:
        """Delete our member entry, so the others stop waiting for us at once."""
        if self._store is not None and self._link.connected:
            try:
                await self._store.members.delete(self.config.replica_id)
            except NATS_ERRORS:
                pass

    def _due(self) -> None:
        self._record_due.set()
        self._decide_due.set()
