"""Keeps the registry index in step with the disk, driven by the watcher's hints.

Hints arrive on the bus; the folder is read in a worker thread (`inspect` does all the
I/O), the result is applied to the index on the loop (O(1) per version), and every change
is published as a public event. A folder caught mid-copy is re-read once it settles.
"""

import asyncio
import logging

import anyio

from regwatch.events import EventBus, EventType
from regwatch.registry import ChangeKind, ModelRegistry, Status, VersionState

log = logging.getLogger("regwatch.sync")


class RegistrySync:
    def __init__(self, registry: ModelRegistry, bus: EventBus, *, mirror_latest: bool = True) -> None:
        self.registry = registry
        self.bus = bus
        self.mirror_latest = mirror_latest
        self.rescans = 0
        self._rechecks: dict[str, asyncio.TimerHandle] = {}

    async def initial_scan(self) -> None:
        """Start-up discovery: index everything; report only what is wrong, not each version."""
        removed = await anyio.to_thread.run_sync(self.registry.remove_stale_temp_folders)
        if removed:
            log.info("removed temp folders left by interrupted publishes: %s", ", ".join(removed))
        states = await anyio.to_thread.run_sync(self.registry.inspect_all)
        self._apply(states, announce_additions=False)

    async def run(self) -> None:
        hints = self.bus.subscribe((EventType.VERSION_CHANGED, EventType.RESCAN_REQUESTED), maxsize=10_000)
        with hints:
            async for event in hints:
                if event.type is EventType.VERSION_CHANGED and event.version is not None:
                    state = await anyio.to_thread.run_sync(self.registry.inspect, event.version)
                    self._apply([state])
                else:  # a requested rescan, or we lagged behind the hints
                    self.rescans += 1
                    states = await anyio.to_thread.run_sync(self.registry.inspect_all)
                    self._apply(states)

    def _apply(self, states: list[VersionState], announce_additions: bool = True) -> None:
        before = self.registry.get_latest_version()
        for change in self.registry.apply(states):
            if change.kind is ChangeKind.ADDED and not announce_additions:
                continue
            state = self.registry.index.state(change.name)
            details = {"reason": change.reason} if change.reason else {}
            if change.kind in (ChangeKind.ADDED, ChangeKind.UPDATED) and state is not None:
                details["metadata"] = state.metadata
            self.bus.publish(EventType(change.kind.value), change.name, **details)
        for state in states:
            if state.status is Status.SETTLING:
                self._recheck_later(state)
        after = self.registry.get_latest_version()
        if after != before:
            self.bus.publish(EventType.LATEST_CHANGED, after, previous=before)
            if self.mirror_latest:
                self._update_mirror()

    def _recheck_later(self, state: VersionState) -> None:
        """Re-read a folder that was still being written to once its quiet window has passed."""
        timer = self._rechecks.pop(state.name, None)
        if timer is not None:
            timer.cancel()

        def recheck() -> None:
            self._rechecks.pop(state.name, None)
            self.bus.publish(EventType.VERSION_CHANGED, state.name)

        self._rechecks[state.name] = asyncio.get_running_loop().call_later(state.settles_in, recheck)

    def _update_mirror(self) -> None:
        try:
            self.registry.update_latest_mirror()
        except OSError as exc:  # a read-only volume: the mirror is a courtesy, not a must
            log.warning("cannot update the latest/ mirror: %s", exc)
