"""One model's release state in force, followed from its `release.json` on the volume.

The file is read (in a worker thread) before the model's first load decision, on every hint
the watcher gives for it, on every rescan (the safety net for missed events), and right
after this service wrote it. Reads are serialised, so they apply in order. A state that
differs from the one in force is handed to the live model and published whole
(`release_changed`). A file that cannot be used (bad JSON, unknown keys, a symlink, a FIFO,
too big) is reported once per reason (`release_rejected` and a log line) and ignored as a
whole: the last good state stays in force. A missing file is the default state (follow
latest, no canary, no shadow, no aliases), so deleting it is a reset; but only once it
stays missing for `MISSING_GRACE` seconds: an editor that moves the file aside before it
writes the new one must not send default traffic to latest in between.
"""

import asyncio
import logging
import os
from pathlib import Path

import anyio

from regwatch.events import EventBus, EventType
from regwatch.registry import printable
from regwatch.registry.layout import RELEASE_FILE
from regwatch.registry.release import Release, ReleaseError, read_release

from .live import LiveModel

log = logging.getLogger("regwatch.release")

MISSING_GRACE = 1.0  # seconds a release file must stay missing before that means "reset"


class ReleaseFile:
    def __init__(self, folder: Path, bus: EventBus, live: LiveModel, *, model: str) -> None:
        self.folder = folder
        self.bus = bus
        self.live = live
        self.model = model
        self.problem: str | None = None  # why the file on disk is ignored, if it is
        self._wanted = asyncio.Event()
        self._reading = anyio.Lock()

    @property
    def state(self) -> Release:
        """The state in force."""
        return self.live.release

    def hint(self) -> None:
        """The file may have changed: read it soon (bursts coalesce into one read)."""
        self._wanted.set()

    async def run(self) -> None:
        """Follow the hints until cancelled."""
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            await self.refresh()

    async def refresh(self, *, announce: bool = True) -> Release:
        """Read the file now and apply it; the state in force after that."""
        async with self._reading:
            try:
                state = await anyio.to_thread.run_sync(self._read)
                if state is None and self.state != Release():
                    await anyio.sleep(MISSING_GRACE)
                    state = await anyio.to_thread.run_sync(self._read)
            except ReleaseError as exc:
                self._reject(str(exc))
                return self.state
            if state is None:
                state = Release()
            self.problem = None
            if state != self.state:
                log.info("%s: release state in force: %s", self.model, state.to_json())
                if announce:  # before what it causes: a swap's model_loaded follows it
                    self.bus.publish(
                        EventType.RELEASE_CHANGED, state.stable, model=self.model, release=state.to_json()
                    )
                self.live.follow(state)
            return state

    def _read(self) -> Release | None:
        """The file's state; None when there is no file. Blocking: runs in a worker thread."""
        if not os.path.lexists(self.folder / RELEASE_FILE):
            return None
        return read_release(self.folder)

    def _reject(self, reason: str) -> None:
        # Named without the server's own paths, escaped: unknown keys are quoted from the file.
        reason = printable(reason.replace(str(self.folder / RELEASE_FILE), RELEASE_FILE))
        if reason != self.problem:
            log.warning("%s: %s; the last good release state stays in force", self.model, reason)
            self.bus.publish(EventType.RELEASE_REJECTED, model=self.model, reason=reason)
        self.problem = reason
