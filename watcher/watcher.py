"""Watch the registry root and publish change hints on the bus.

`FolderWatcher.run()` is one long-lived task. It owns the watchdog observer (inotify, or
polling for file systems without it), one for the whole root and every model in it, and
restarts it when it dies or when the root is deleted and recreated; it asks for a full
rescan periodically and after every restart: the safety net for anything the observer
missed. While the root cannot be watched at all (replaced by a file, unreadable) it says
so once and keeps trying.

inotify watches one directory per watch: the root, `versions/`, `models/`, and per model
its folder and `versions/`, plus one per version folder (and the `latest/` mirror).

Hints are debounced per version folder (the settle window), except for a folder that
arrives by one rename (hinted at once, flagged `renamed_in`, so a complete folder is
served without waiting out a window it does not need) or that is deleted or renamed away
(hinted at once: there is nothing left to settle). A model folder appearing or going is
hinted at once; a release file is hinted at once when renamed in, else when quiet.
"""

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from regwatch.events import EventBus, EventType
from regwatch.registry import Location, Touched

from .debounce import Debouncer
from .handler import CHANGE_EVENTS, FolderChangeHandler, Touch

log = logging.getLogger("regwatch.watcher")

HEALTH_CHECK_SECONDS = 1.0
# watchdog rebuilds its watches after an inotify queue overflow but only says so in a log
# line; listening for that line is the one way to rescan at once instead of at the next tick.
WATCHDOG_LOGGERS = ("watchdog.observers.inotify", "watchdog.observers.inotify_c")


class _OverflowListener(logging.Handler):
    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()


class FolderWatcher:
    def __init__(
        self,
        folder: str | Path,
        bus: EventBus,
        *,
        poll: bool = False,
        poll_interval: float = 1.0,
        settle: float = 0.05,
        reconcile_interval: float = 30.0,
        locate: Callable[[list[str]], Location | None],
        top_levels: Callable[[Path], list[Path]] = lambda root: [root],
    ) -> None:
        self.folder = Path(folder)
        self.bus = bus
        self.poll = poll
        self.poll_interval = poll_interval
        self.settle = settle
        self.reconcile_interval = reconcile_interval
        self.locate = locate
        self.top_levels = top_levels
        self.restarts = 0
        self.raw_events = 0
        self._root_lost = asyncio.Event()
        self._observer: BaseObserver | None = None
        self._unwatchable = False
        self.started = asyncio.Event()

    def _hint(self, place: Location, **details: object) -> None:
        """On the loop: say that `place` may have changed."""
        if place.touched is Touched.VERSION:
            self.bus.publish(EventType.VERSION_CHANGED, place.version, model=place.model, **details)
        elif place.touched is Touched.RELEASE:
            self.bus.publish(EventType.RELEASE_FILE_CHANGED, model=place.model)
        else:
            self.bus.publish(EventType.MODEL_CHANGED, model=place.model)

    def _new_observer(self) -> BaseObserver:
        if self.poll:
            return PollingObserver(timeout=self.poll_interval)
        if sys.platform != "linux":
            return Observer()
        # Full events: a folder moved in from outside the watched tree is reported as a
        # move (with no source), not as a creation, so it can take the rename fast path.
        from watchdog.observers.inotify import InotifyObserver

        return InotifyObserver(generate_full_events=True)

    async def _start_observer(
        self, debouncer: Debouncer[Location], loop: asyncio.AbstractEventLoop
    ) -> BaseObserver:
        self._root_lost = asyncio.Event()
        root_lost = self._root_lost

        def on_change(place: Location, touch: Touch) -> None:  # on the observer's thread
            self.raw_events += 1
            if place.touched in (Touched.MODEL, Touched.MODELS):
                loop.call_soon_threadsafe(self._hint, place)
                return
            place = replace(place, itself=False)  # one debounce key per place
            if touch is Touch.ARRIVED and place.touched is Touched.VERSION:
                loop.call_soon_threadsafe(partial(self._hint, place, renamed_in=True))
            elif touch is not Touch.CHANGED:
                loop.call_soon_threadsafe(self._hint, place)
            loop.call_soon_threadsafe(debouncer.touch, place)  # the settle-window look, always

        def on_root_lost() -> None:
            loop.call_soon_threadsafe(root_lost.set)

        handler = FolderChangeHandler(str(self.folder), self.locate, on_change, on_root_lost)

        def start() -> BaseObserver:
            self.folder.mkdir(parents=True, exist_ok=True)
            observer = self._new_observer()
            try:
                try:
                    observer.schedule(handler, str(self.folder), recursive=True, event_filter=CHANGE_EVENTS)
                except OSError as exc:
                    # inotify watch limit: watch only the folders whose entries are versions
                    # and models; rescans cover what happens inside them.
                    log.warning("recursive watch failed (%s); watching the top levels only", exc)
                    observer.unschedule_all()
                    for folder in self.top_levels(self.folder):
                        observer.schedule(handler, str(folder), recursive=False, event_filter=CHANGE_EVENTS)
                observer.start()
            except BaseException:
                _stop(observer)
                raise
            return observer

        return await anyio.to_thread.run_sync(start)

    def _healthy(self, observer: BaseObserver) -> bool:
        return (
            observer.is_alive()
            and not self._root_lost.is_set()
            and all(emitter.is_alive() for emitter in observer.emitters)
            and self.folder.is_dir()
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        debouncer: Debouncer[Location] = Debouncer(self.settle, self._hint)
        observer: BaseObserver | None = None
        overflow = _OverflowListener(
            lambda: self.bus.publish_threadsafe(EventType.RESCAN_REQUESTED, reason="inotify queue overflowed")
        )
        for name in WATCHDOG_LOGGERS:
            logging.getLogger(name).addHandler(overflow)
        try:
            rescan = False  # after a restart or an outage, events may have been missed
            while True:
                observer = self._observer = await self._try_start(debouncer, loop)
                self.started.set()  # from here on, no change goes unnoticed for long
                if observer is None:
                    rescan = True
                    await anyio.sleep(HEALTH_CHECK_SECONDS)
                    continue
                if rescan:
                    self.bus.publish(EventType.RESCAN_REQUESTED, reason="watcher restarted")
                elapsed = 0.0
                while self._healthy(observer):
                    with anyio.move_on_after(HEALTH_CHECK_SECONDS):
                        await self._root_lost.wait()
                    elapsed += HEALTH_CHECK_SECONDS
                    if elapsed >= self.reconcile_interval:
                        elapsed = 0.0
                        self.bus.publish(EventType.RESCAN_REQUESTED, reason="periodic reconcile")
                log.warning("file watcher on %s stopped; restarting it and rescanning", self.folder)
                self.restarts += 1
                rescan = True
                await anyio.to_thread.run_sync(_stop, observer)
                observer = None
        finally:
            for name in WATCHDOG_LOGGERS:
                logging.getLogger(name).removeHandler(overflow)
            debouncer.cancel_all()
            if observer is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_stop, observer)

    async def _try_start(
        self, debouncer: Debouncer[Location], loop: asyncio.AbstractEventLoop
    ) -> BaseObserver | None:
        """A running observer, or None while the folder cannot be watched (said once)."""
        try:
            observer = await self._start_observer(debouncer, loop)
        except OSError as exc:
            if not self._unwatchable:
                log.warning(
                    "cannot watch %s (%s); retrying every %.0f s", self.folder, exc, HEALTH_CHECK_SECONDS
                )
            self._unwatchable = True
            return None
        if self._unwatchable:
            log.warning("watching %s again", self.folder)
            self._unwatchable = False
        return observer


def _stop(observer: BaseObserver) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join(timeout=5)
