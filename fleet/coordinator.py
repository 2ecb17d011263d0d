"""One replica's membership in a fleet: heartbeats, watches, and the switching protocol.

The service tells the fleet what it wants (`want`: the version it computed from the
volume) and what it can serve (`set_loaded`: loaded and warmed), and asks it what to
answer with (`gate`). Everything else runs in `run()`: heartbeats into the members
bucket, watches on the members and on the active pointers, and the compare-and-sets of
`rules.next_step`. NATS being unreachable only freezes the fleet: every gate keeps its
answer, no pointer moves, and `status()` says so; nats-py reconnects, and on every
(re)connect the replica re-joins and re-reads the buckets from scratch.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Self

import anyio
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from regwatch.events import utc_now

from . import entries
from .config import FleetConfig
from .entries import POINTER_PREFIX
from .gate import FleetNotReady, ModelGate, Pass
from .link import NATS_ERRORS, Link
from .local import LocalState
from .records import Canary, MemberRecord, Pointer, RecordError, encode
from .rules import Active, Step, Target
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
        self._synced = {"members": False, "pointers": False}
        self._joined = anyio.Event()
        self._record_due = anyio.Event()
        self._decide_due = anyio.Event()
        self._session: anyio.CancelScope | None = None
        self._runner: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[None]] = set()

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
                    with anyio.CancelScope() as self._session:
                        try:
                            await self._sync(nc)
                        except NATS_ERRORS as exc:
                            log.warning("fleet session failed (%s); retrying", exc)
                            await anyio.sleep(self.config.reconnect_wait)
                    self._synced = dict.fromkeys(self._synced, False)
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
        elif self._session is not None:
            self._session.cancel()
        # Connected: hold answers until the pointers are re-read (they may have moved while
        # we were away). Unreachable: keep answering with what we have (the contract).
        self._local.set_current(not connected)

    async def _sync(self, nc: Client) -> None:
        """One connected session: join first, then follow both buckets (see rules.py)."""
        self._store = store = await open_store(nc, self.config)
        await self._publish_record()
        watchers: list[KeyValue.KeyWatcher] = []
        try:
            watchers.append(members := await store.members.watchall())
            watchers.append(pointers := await store.active.watch(POINTER_PREFIX + ">"))
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._follow_members, members)
                tasks.start_soon(self._follow_pointers, pointers, tasks)
                tasks.start_soon(self._heartbeats)
        finally:
            # In the background: after a disconnect, stopping waits for request timeouts,
            # and the next session must not wait for that.
            cleanup = asyncio.create_task(self._stop(watchers))
            self._cleanups.add(cleanup)
            cleanup.add_done_callback(self._cleanups.discard)

    async def _stop(self, watchers: list[KeyValue.KeyWatcher]) -> None:
        with anyio.move_on_after(self.config.request_timeout):
            for watcher in watchers:
                try:
                    await watcher.stop()  # type: ignore[no-untyped-call]
                except NATS_ERRORS:
                    pass

    # -- following the buckets ---------------------------------------------------------

    async def _follow_members(self, watcher: KeyValue.KeyWatcher) -> None:
        fresh: dict[str, MemberRecord] | None = {}  # the initial values, swapped in whole
        async for entry in watcher:
            if entry is None:
                if fresh is not None:
                    self._local.members, fresh = fresh, None
                    self._synced["members"] = True
                    log.info("fleet %s: joined, %d member(s)", self.config.name, len(self._local.members))
                self._decide_due.set()
                continue
            into = self._local.members if fresh is None else fresh
            if entries.removed(entry):
                into.pop(entry.key, None)
            else:
                try:
                    into[entry.key] = record = entries.member(entry, self.config.max_record_bytes)
                except RecordError as exc:
                    self._bad(exc)
                    continue
                if entry.key == self.config.replica_id and record.incarnation != self._incarnation:
                    log.error("another process uses replica id %s: give each replica its own id", entry.key)
            if fresh is None:
                self._decide_due.set()

    async def _follow_pointers(self, watcher: KeyValue.KeyWatcher, tasks: TaskGroup) -> None:
        async for entry in watcher:
            if entry is None:
                self._synced["pointers"] = True
                self._local.set_current(True)
                self._joined.set()
                self._decide_due.set()
                continue
            try:
                model, active = entries.pointer(entry, self.config.max_record_bytes)
            except RecordError as exc:
                self._bad(exc)
                continue
            if model not in self._local.gates and active is None:
                continue
            gate = self._local.gate_for(model)
            self._local.apply(gate, active, gate.loaded)
            if active is not None and active.fencing and self._local.acked.get(model) != active.revision:
                tasks.start_soon(self._acknowledge, gate, active)
            self._due()

    async def _acknowledge(self, gate: ModelGate, fence: Active) -> None:
        """The gate stopped answering: wait for the requests in flight, then ack."""
        with anyio.move_on_after(self.config.hold_timeout) as waited:
            await gate.drained()
        if waited.cancelled_caught:
            log.warning(
                "model %s: requests on %s still running; acknowledging the fence", gate.model, fence.previous
            )
        self._local.acked[gate.model] = fence.revision
        self._record_due.set()

    def _bad(self, exc: RecordError) -> None:
        self.counters.bad_records += 1
        log.warning("fleet %s: ignoring a bucket value: %s", self.config.name, exc)

    # -- writing -------------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Within a session (so a disconnect cancels a write in flight): our record, on change
        and every heartbeat interval."""
        while True:
            with anyio.move_on_after(self.config.heartbeat_interval):
                await self._record_due.wait()
            self._record_due = anyio.Event()
            try:
                await self._publish_record()
            except NATS_ERRORS as exc:
                log.warning("fleet %s: heartbeat not written: %s", self.config.name, exc)

    async def _publish_record(self) -> None:
        assert self._store is not None
        record = self._local.record(self._incarnation, utc_now())
        await self._store.members.put(self.config.replica_id, encode(record))

    async def _decisions(self) -> None:
        while True:
            now = time.monotonic()
            with anyio.move_on_after(max(self._local.next_deadline(now), self._settled_at) - now):
                await self._decide_due.wait()
            self._decide_due = anyio.Event()
            synced = self._link.connected and all(self._synced.values())
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
