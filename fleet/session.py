"""One connected session of a replica: join, follow both buckets, acknowledge fences, heartbeat.

A session lives from a (re)connect to the next disconnect and is then dropped whole: what
it has read (`synced`) dies with it, so the next one joins again and reads both buckets
from scratch (README, "Reconnects"). It keeps the protocol's order (rules.py): the member
record is written before the pointers are read, the members' initial values are swapped
in whole, and a fence is acknowledged only once the requests in flight drained. Pointers
are the coordinator's to write: the session says when a decision is due.
"""

import asyncio
import logging

import anyio
from anyio.abc import TaskGroup
from nats.js.kv import KeyValue

from regwatch.events import utc_now

from . import entries
from .config import FleetConfig
from .due import Due
from .entries import POINTER_PREFIX
from .gate import ModelGate
from .link import NATS_ERRORS
from .local import LocalState
from .records import MemberRecord, RecordError, encode
from .rules import Active
from .status import Counters
from .store import Store

log = logging.getLogger("regwatch.fleet")

_stopping: set[asyncio.Task[None]] = set()  # watchers being stopped (the loop keeps weak references)


class Session:
    """Feeds one session's watch entries to the LocalState and keeps our member record fresh."""

    def __init__(
        self,
        store: Store,
        config: FleetConfig,
        local: LocalState,
        counters: Counters,
        incarnation: str,
        joined: anyio.Event,
        record_due: Due,
        decide_due: Due,
    ) -> None:
        self.config = config
        self._store = store
        self._local = local
        self._counters = counters
        self._incarnation = incarnation  # ours: a record under our id with another is a twin
        self._joined = joined  # set once, by the first session that read the pointers
        self._record_due = record_due  # our record changed: write it before the next heartbeat
        self._decide_due = decide_due  # the view changed: a pointer write may be due
        self._members_read = False
        self._pointers_read = False

    @property
    def synced(self) -> bool:
        """Both buckets read once in this session (before that, write no pointer)."""
        return self._members_read and self._pointers_read

    async def run(self) -> None:
        """Join first, then follow both buckets (see rules.py) and heartbeat, until cancelled."""
        await self._publish_record()
        watchers: list[KeyValue.KeyWatcher] = []
        try:
            watchers.append(members := await self._store.members.watchall())
            watchers.append(pointers := await self._store.active.watch(POINTER_PREFIX + ">"))
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._follow_members, members)
                tasks.start_soon(self._follow_pointers, pointers, tasks)
                tasks.start_soon(self._heartbeats)
        finally:
            # In the background: after a disconnect, stopping waits for request timeouts,
            # and the next session must not wait for that.
            cleanup = asyncio.create_task(self._stop(watchers))
            _stopping.add(cleanup)
            cleanup.add_done_callback(_stopping.discard)

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
                    self._members_read = True
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
                self._pointers_read = True
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
            self._record_due.set()
            self._decide_due.set()

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
        self._counters.bad_records += 1
        log.warning("fleet %s: ignoring a bucket value: %s", self.config.name, exc)

    # -- our member record -------------------------------------------------------------

    async def _heartbeats(self) -> None:
        """Within the session (so a disconnect cancels a write in flight): our record, on change
        and every heartbeat interval."""
        while True:
            await self._record_due.wait(self.config.heartbeat_interval)
            try:
                await self._publish_record()
            except NATS_ERRORS as exc:
                log.warning("fleet %s: heartbeat not written: %s", self.config.name, exc)

    async def _publish_record(self) -> None:
        record = self._local.record(self._incarnation, utc_now())
        await self._store.members.put(self.config.replica_id, encode(record))
