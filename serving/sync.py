"""Keeps one model's index in step with the disk, driven by the watcher's hints.

`ServedModels` hands each model its hints (`hint`, `rescan_soon`). A hint asks for one
folder to be inspected. Inspections run in worker threads, several at once (a 20 GB
checksum must not hold up every other folder), but never two of the same folder: a hint
that arrives while its folder is being inspected makes that inspection run once more
afterwards. Results are therefore applied in order, and a slow, stale one is always
followed by a fresh one. Each result is applied to the index on the loop (O(1) per
folder), every change is published as a public event, and the model's live model is told.
A folder caught mid-copy is looked at again when its quiet window ends, on the same
per-key timer the watcher debounces with; the `latest/` mirror is rewritten by one
writer, in a thread.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
from anyio.abc import TaskGroup

from regwatch.events import EventBus, EventType
from regwatch.registry import (
    ChangeKind,
    ModelRegistry,
    RegistryUnavailable,
    Status,
    VersionState,
    printable,
)
from regwatch.watcher import Debouncer

log = logging.getLogger("regwatch.sync")

PARALLEL_INSPECTIONS = 4
START_CHUNK = 256  # folders per worker-thread call in the start-up scan


@dataclass
class _Inspection:
    """One folder's inspection in flight, and what to do once it is done."""

    renamed_in: bool
    announce: bool
    again: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RegistrySync:
    def __init__(
        self,
        registry: ModelRegistry,
        bus: EventBus,
        *,
        model: str,
        on_change: Callable[[], None] = lambda: None,
        mirror_latest: bool = True,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.model = model
        self.mirror_latest = mirror_latest
        self.rescans = 0
        self._on_change = on_change
        # Shared by every model's sync: at most this many folders are inspected at once.
        self._limiter = limiter or anyio.CapacityLimiter(PARALLEL_INSPECTIONS)
        self._hints: asyncio.Queue[tuple[str, bool] | None] = asyncio.Queue()  # None: rescan
        self._inspections: dict[str, _Inspection] = {}
        self._hinted: set[str] | None = None  # names requested while the start-up scan runs
        # Settling folders: the timer fires in a plain loop callback, where no task can be
        # started, so it queues the name for `run` to request.
        self._due: asyncio.Queue[str] = asyncio.Queue()
        self._rechecks = Debouncer(registry.settle_seconds, self._due.put_nowait)
        self._mirror_wanted = asyncio.Event()
        self._tasks: TaskGroup | None = None
        self._running = asyncio.Event()

    @property
    def in_flight(self) -> set[str]:
        """Folders being inspected right now."""
        return set(self._inspections)

    def hint(self, name: str, *, renamed_in: bool = False) -> None:
        """The folder `name` may have changed (`renamed_in`: it arrived by one rename)."""
        self._hints.put_nowait((name, renamed_in))

    def rescan_soon(self) -> None:
        """Events may have been missed: look at every folder again."""
        self._hints.put_nowait(None)

    async def run(self) -> None:
        """Follow the hints until cancelled. `initial_scan` needs this running."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                tasks.start_soon(self._recheck_due)
                if self.mirror_latest:
                    tasks.start_soon(self._write_mirror)
                self._running.set()
                while True:
                    hint = await self._hints.get()
                    if hint is None:
                        self.rescans += 1
                        tasks.start_soon(self._rescan)
                    else:
                        self._request(hint[0], renamed_in=hint[1])
        finally:
            self._running.clear()
            self._rechecks.cancel_all()

    async def initial_scan(self) -> None:
        """Start-up discovery: index everything; report only what is wrong, not each version."""
        await self._running.wait()
        try:
            removed = await anyio.to_thread.run_sync(self.registry.remove_stale_temp_folders)
        except RegistryUnavailable:
            removed = []  # the scan below says what is wrong
        if removed:
            log.info("removed temp folders left by interrupted publishes: %s", ", ".join(removed))
        await self._scan_in_chunks()

    async def _scan_in_chunks(self) -> None:
        """Start-up discovery in chunks of folders per worker-thread call: one thread hop per
        folder cost ~0.15 ms each (1.5 s at 10,000 versions), and start-up waits for every
        folder anyway. A folder hinted meanwhile is left to its own inspection, which read
        the disk after the hint: a chunk's older look never overwrites it."""
        try:
            names = sorted(await anyio.to_thread.run_sync(self.registry.entries))
        except RegistryUnavailable as exc:
            log.warning("%s; keeping the versions already known until it is back", exc)
            return
        self._hinted = set()

        def inspect_chunk(chunk: list[str]) -> list[VersionState]:
            checkpoint = anyio.from_thread.check_cancelled
            return [self.registry.inspect(name, checkpoint=checkpoint) for name in chunk]

        async def scan(chunk: list[str]) -> None:
            states = await anyio.to_thread.run_sync(inspect_chunk, chunk, limiter=self._limiter)
            for state in states:
                if self._hinted is not None and state.name not in self._hinted:
                    self._apply(state, announce=False)

        size = max(1, min(START_CHUNK, len(names) // int(self._limiter.total_tokens)))
        try:
            async with anyio.create_task_group() as chunks:
                for start in range(0, len(names), size):
                    chunks.start_soon(scan, names[start : start + size])
        finally:
            self._hinted = None

    async def _rescan(self, announce: bool = True) -> None:
        """Every folder on disk and every folder the index remembers, each as its own
        inspection; returns when all are applied."""
        try:
            entries = await anyio.to_thread.run_sync(self.registry.entries)
        except RegistryUnavailable as exc:
            log.warning("%s; keeping the versions already known until it is back", exc)
            return
        names = sorted({*entries, *self.registry.index.names()})
        for inspection in [self._request(name, announce=announce) for name in names]:
            await inspection.done.wait()

    async def _recheck_due(self) -> None:
        while True:
            self._request(await self._due.get())

    def _request(self, name: str, *, renamed_in: bool = False, announce: bool = True) -> _Inspection:
        """Inspect `name` now, or once more after the inspection already in flight."""
        if self._hinted is not None:
            self._hinted.add(name)
        current = self._inspections.get(name)
        if current is not None:
            current.again = True
            current.renamed_in = renamed_in  # the newest hint says how the folder got here
            current.announce = current.announce or announce
            return current
        if self._tasks is None:
            raise RuntimeError("RegistrySync.run() is not running")
        inspection = self._inspections[name] = _Inspection(renamed_in, announce)
        self._tasks.start_soon(self._inspect, name, inspection)
        return inspection

    async def _inspect(self, name: str, inspection: _Inspection) -> None:
        try:
            while True:
                inspection.again = False
                inspect = partial(
                    self.registry.inspect,
                    name,
                    previous=self.registry.index.state(name),
                    renamed_in=inspection.renamed_in,
                    checkpoint=anyio.from_thread.check_cancelled,
                )
                try:
                    state = await anyio.to_thread.run_sync(inspect, limiter=self._limiter)
                except RegistryUnavailable as exc:  # the watcher rescans once it is back
                    log.warning("%s; keeping the versions already known until it is back", exc)
                    return
                self._apply(state, inspection.announce)
                if not inspection.again:
                    return
        finally:
            del self._inspections[name]
            inspection.done.set()

    def _apply(self, state: VersionState, announce: bool) -> None:
        before = self.registry.get_latest_version()
        change_id = _change_id(self.model, state, self.registry.index.state(state.name))
        changes = self.registry.index.apply(state)
        for change in changes:
            if change.kind is ChangeKind.ADDED and not announce:
                continue
            details: dict[str, Any] = {"change_id": change_id}
            if change.reason:
                details["reason"] = change.reason
            changed = self.registry.index.state(change.name)
            if change.kind in (ChangeKind.ADDED, ChangeKind.UPDATED) and changed is not None:
                details["metadata"] = changed.metadata
            self.bus.publish(
                EventType(change.kind.value), printable(change.name), model=self.model, **details
            )
        if state.status is Status.SETTLING:
            self._rechecks.touch(state.name, state.settles_in)
        after = self.registry.get_latest_version()
        if after != before:
            self.bus.publish(
                EventType.LATEST_CHANGED, after, model=self.model, previous=before, change_id=change_id
            )
            self._mirror_wanted.set()
        if changes or after != before:
            self._on_change()

    async def _write_mirror(self) -> None:
        """The one writer of `latest/`: coalesces bursts, blocking I/O in a thread."""
        while True:
            await self._mirror_wanted.wait()
            self._mirror_wanted.clear()
            latest = self.registry.get_latest_version()
            try:
                await anyio.to_thread.run_sync(self.registry.update_latest_mirror, latest)
            except OSError as exc:  # a read-only volume: the mirror is a courtesy, not a must
                log.warning("cannot update the latest/ mirror: %s", exc)


def _change_id(model: str, state: VersionState, known: VersionState | None) -> str:
    """Names one change of one folder (its files before and after): every server watching
    the volume computes the same id for it, and no other change has it. A fleet's event
    stream keeps one copy of the events each replica publishes about it."""
    before = known.fingerprint if known is not None else ()
    seen = repr((model, state.name, before, state.fingerprint)).encode()
    return hashlib.blake2b(seen, digest_size=8).hexdigest()
