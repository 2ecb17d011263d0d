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
import nats
import nats.errors
from anyio.abc import TaskGroup
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from regwatch.events import utc_now

from .config import FleetConfig
from .gate import FleetNotReady, ModelGate, Pass
from .records import MODEL_NAME, MemberRecord, ModelReport, Pointer, RecordError, decode, encode
from .rules import Active, Step, next_step
from .status import Counters, FleetStatus, ModelStatus
from .store import Store, open_store
from .stream import FleetEvents

log = logging.getLogger("regwatch.fleet")

NATS_ERRORS = (nats.errors.Error, OSError, TimeoutError)
POINTER_PREFIX = "active."


class FleetUnavailable(Exception):
    """The fleet's NATS server has not been reached yet."""


class Fleet:
    """This replica's view of the fleet and its part in switching versions."""

    def __init__(self, config: FleetConfig, on_change: Callable[[ModelStatus], None] | None = None) -> None:
        self.config = config
        self.counters = Counters()
        self._on_change = on_change
        self._incarnation = secrets.token_hex(8)
        self._gates: dict[str, ModelGate] = {}
        self._desired: dict[str, str | None] = {}
        self._acked: dict[str, int] = {}  # model -> revision of the fence acknowledged
        self._preparing: dict[str, tuple[str, float]] = {}  # model -> (version, since)
        self._settled_at = 0.0  # no pointer writes before: see _set_connected
        self._members: dict[str, MemberRecord] = {}
        self._store: Store | None = None
        self._connected = False
        self._changed_at = utc_now()
        self._synced = {"members": False, "pointers": False}
        self._online = anyio.Event()
        self._joined = anyio.Event()
        self._record_due = anyio.Event()
        self._decide_due = anyio.Event()
        self._session: anyio.CancelScope | None = None
        self._runner: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[None]] = set()
        self._current = True  # see ModelGate.current

    # -- what the service calls ----------------------------------------------------------

    def gate(self, model: str) -> Pass:
        """`async with fleet.gate(model) as version:` (raises FleetNotReady: answer 503)."""
        gate = self._gates.get(model)
        if gate is None:
            raise FleetNotReady(f"model {model!r}: not known to the fleet")
        return gate.enter()

    def want(self, model: str, version: str | None) -> None:
        """The version this replica computed from the volume for `model` (None: nothing)."""
        self._gate_for(model)
        self._desired[model] = version
        self._due()

    def set_loaded(self, model: str, versions: Iterable[str]) -> None:
        """The versions of `model` loaded and warmed here (the whole set, each time)."""
        gate = self._gate_for(model)
        self._apply(gate, gate.active, frozenset(versions))
        self._due()

    def active(self, model: str) -> str | None:
        """The fleet's version of `model` (committed or being switched to): keep it loaded."""
        gate = self._gates.get(model)
        return gate.active.version if gate is not None and gate.active is not None else None

    async def joined(self) -> None:
        """Return once this replica has joined the fleet and read its pointers (the first time)."""
        await self._joined.wait()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ready(self) -> bool:
        """Every model this replica serves has the fleet's version loaded (else `/readyz` 503)."""
        counted = [gate for model, gate in self._gates.items() if self._counts(model, gate)]
        return bool(counted) and all(gate.ready for gate in counted)

    @property
    def events(self) -> FleetEvents:
        if self._store is None:
            raise FleetUnavailable(f"fleet {self.config.name!r}: NATS not reached yet")
        return self._store.events

    def members(self) -> dict[str, MemberRecord]:
        """Live replicas (as of the last update; frozen while disconnected)."""
        return dict(self._members)

    def status(self) -> FleetStatus:
        return FleetStatus(
            fleet=self.config.name,
            replica=self.config.replica_id,
            connected=self._connected,
            changed_at=self._changed_at,
            ready=self.ready,
            models=tuple(self._model_status(model, gate) for model, gate in sorted(self._gates.items())),
            members=tuple(record for _, record in sorted(self._members.items())),
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
        nc = await self._connect()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._decisions)
                while True:
                    await self._online.wait()
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

    async def _connect(self) -> Client:
        while True:
            try:
                nc = await nats.connect(
                    self.config.url,
                    name=f"regwatch {self.config.name}/{self.config.replica_id}",
                    connect_timeout=max(1, round(self.config.request_timeout)),
                    reconnect_time_wait=self.config.reconnect_wait,
                    max_reconnect_attempts=-1,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            except NATS_ERRORS as exc:
                log.warning("fleet %s: NATS at %s unreachable (%s)", self.config.name, self.config.url, exc)
                await anyio.sleep(self.config.reconnect_wait)
                continue
            self._set_connected(True)
            return nc

    async def _on_disconnected(self) -> None:
        self._set_connected(False)
        if self._session is not None:
            self._session.cancel()

    async def _on_reconnected(self) -> None:
        self.counters.reconnects += 1
        self._set_connected(True)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("fleet NATS error: %s", exc)

    def _set_connected(self, connected: bool) -> None:
        if connected != self._connected:
            log.info("fleet %s: %s NATS", self.config.name, "connected to" if connected else "lost")
            self._connected, self._changed_at = connected, utc_now()
        if connected:
            # Everybody reconnects after an outage, each at its own moment, and the server
            # has expired their entries meanwhile: write no pointer for one TTL, so every
            # replica that is alive has rejoined (else a late one might still answer the old
            # version). A replica not back within a TTL is gone, as with a missed heartbeat.
            self._settled_at = time.monotonic() + self.config.member_ttl
            self._online.set()
        elif self._online.is_set():
            self._online = anyio.Event()
        # Connected: hold answers until the pointers are re-read (they may have moved while
        # we were away). Unreachable: keep answering with what we have (the contract).
        self._set_current(not connected)

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
                    self._members, fresh = fresh, None
                    self._synced["members"] = True
                    log.info("fleet %s: joined, %d live member(s)", self.config.name, len(self._members))
                self._decide_due.set()
                continue
            into = self._members if fresh is None else fresh
            if entry.operation in (KV_DEL, KV_PURGE):
                into.pop(entry.key, None)
            elif (record := self._member(entry.key, entry.value)) is not None:
                into[entry.key] = record
            if fresh is None:
                self._decide_due.set()

    def _member(self, key: str, value: bytes | None) -> MemberRecord | None:
        try:
            record = decode(MemberRecord, value, self.config.max_record_bytes)
        except RecordError as exc:
            self._bad(key, str(exc))
            return None
        if record.replica != key:
            self._bad(key, f"record names replica {record.replica!r}")
            return None
        if key == self.config.replica_id and record.incarnation != self._incarnation:
            log.error("another process uses replica id %s: give each replica its own id", key)
        return record

    async def _follow_pointers(self, watcher: KeyValue.KeyWatcher, tasks: TaskGroup) -> None:
        async for entry in watcher:
            if entry is None:
                self._synced["pointers"] = True
                self._set_current(True)
                self._joined.set()
                self._decide_due.set()
                continue
            model = entry.key.removeprefix(POINTER_PREFIX)
            if not MODEL_NAME.match(model):
                self._bad(entry.key, "not a model name")
                continue
            active: Active | None = None
            if entry.operation not in (KV_DEL, KV_PURGE):
                try:
                    pointer = decode(Pointer, entry.value, self.config.max_record_bytes)
                except RecordError as exc:
                    self._bad(entry.key, str(exc))
                    continue
                active = Active(pointer.version, pointer.phase, pointer.previous, entry.revision or 0)
            if model not in self._gates and active is None:
                continue
            gate = self._gate_for(model)
            self._apply(gate, active, gate.loaded)
            if active is not None and active.phase == "fencing" and self._acked.get(model) != active.revision:
                tasks.start_soon(self._acknowledge, gate, active)
            self._due()

    async def _acknowledge(self, gate: ModelGate, fence: Active) -> None:
        """The gate stopped answering `fence.previous`: wait for its in-flight requests, then ack."""
        with anyio.move_on_after(self.config.hold_timeout) as waited:
            await gate.drained(fence.previous)
        if waited.cancelled_caught:
            log.warning(
                "model %s: requests on %s still running; acknowledging the fence", gate.model, fence.previous
            )
        self._acked[gate.model] = fence.revision
        self._record_due.set()

    def _bad(self, key: str, reason: str) -> None:
        self.counters.bad_records += 1
        log.warning("fleet %s: ignoring the value of %r: %s", self.config.name, key, reason)

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
        record = MemberRecord(
            replica=self.config.replica_id,
            incarnation=self._incarnation,
            at=utc_now(),
            models={model: self._report(model, gate) for model, gate in self._gates.items()},
        )
        await self._store.members.put(self.config.replica_id, encode(record))

    async def _decisions(self) -> None:
        while True:
            with anyio.move_on_after(self._next_deadline()):
                await self._decide_due.wait()
            self._decide_due = anyio.Event()
            if not (self._connected and all(self._synced.values())) or time.monotonic() < self._settled_at:
                continue
            for model, gate in list(self._gates.items()):
                desired = self._desired.get(model)
                step = next_step(
                    model,
                    gate.active,
                    desired,
                    self.config.replica_id,
                    self._members,
                    self._overdue(model, gate),
                )
                if step is not None:
                    await self._write(step)

    async def _write(self, step: Step) -> None:
        assert self._store is not None
        pointer = Pointer(
            version=step.version,
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
        log.info(
            "model %s: fleet pointer -> %s %s (from %s)", step.model, step.phase, step.version, step.previous
        )

    def _overdue(self, model: str, gate: ModelGate) -> bool:
        """Has this replica wanted a version other than the fleet's for the prepare deadline?"""
        desired = self._desired.get(model)
        if desired is None or (gate.active is not None and gate.active.version == desired):
            self._preparing.pop(model, None)
            return False
        now = time.monotonic()
        version, since = self._preparing.get(model, (None, now))
        if version != desired:
            self._preparing[model] = (desired, now)
            since = now
        return now - since >= self.config.prepare_deadline

    def _next_deadline(self) -> float:
        now = time.monotonic()
        ends = [since + self.config.prepare_deadline - now for _, since in self._preparing.values()]
        if self._settled_at > now:
            ends.append(self._settled_at - now)
        return max(0.0, min([self.config.heartbeat_interval, *ends]))

    async def _leave(self) -> None:
        """Delete our member entry, so the others stop waiting for us at once."""
        if self._store is not None and self._connected:
            try:
                await self._store.members.delete(self.config.replica_id)
            except NATS_ERRORS:
                pass

    # -- local state ---------------------------------------------------------------------

    def _gate_for(self, model: str) -> ModelGate:
        gate = self._gates.get(model)
        if gate is None:
            gate = self._gates[model] = ModelGate(model, self.config.hold_timeout)
            gate.update(None, frozenset(), self._current)
        return gate

    def _apply(self, gate: ModelGate, active: Active | None, loaded: frozenset[str]) -> None:
        before = (gate.active, gate.loaded, gate.answer)
        gate.update(active, loaded, self._current)
        if (gate.active, gate.loaded, gate.answer) != before and self._on_change is not None:
            self._on_change(self._model_status(gate.model, gate))

    def _set_current(self, current: bool) -> None:
        self._current = current
        for gate in list(self._gates.values()):
            self._apply(gate, gate.active, gate.loaded)

    def _due(self) -> None:
        self._record_due.set()
        self._decide_due.set()

    def _counts(self, model: str, gate: ModelGate) -> bool:
        """Readiness counts the models this replica serves or wants (not ones it never had)."""
        return self._desired.get(model) is not None or bool(gate.loaded)

    def _report(self, model: str, gate: ModelGate) -> ModelReport:
        return ModelReport(
            desired=self._desired.get(model),
            loaded=gate.loaded,
            serving=gate.answer,
            ready=gate.ready,
            fenced=self._acked.get(model, 0),
        )

    def _model_status(self, model: str, gate: ModelGate) -> ModelStatus:
        active = gate.active
        return ModelStatus(
            model=model,
            active=active.version if active else None,
            phase=active.phase if active else None,
            answer=gate.answer,
            ready=gate.ready,
            reason=None if gate.ready else gate.reason(),
        )
