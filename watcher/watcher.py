"""Watch a folder of version folders and publish debounced change hints on the bus.

`FolderWatcher.run()` is one long-lived task. It owns the watchdog observer (inotify, or
polling for file systems without it), restarts it when it dies or when the watched folder
is deleted and recreated, and asks for a full rescan periodically and after every restart:
the safety net for anything the observer missed.
"""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import anyio
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from regwatch.events import EventBus, EventType

from .debounce import Debouncer
from .handler import CHANGE_EVENTS, FolderChangeHandler

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
        ignore: Callable[[str], bool] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.bus = bus
        self.poll = poll
        self.poll_interval = poll_interval
        self.settle = settle
        self.reconcile_interval = reconcile_interval
        self.ignore = ignore
        self.restarts = 0
        self.raw_events = 0
        self._root_lost = asyncio.Event()
        self._observer: BaseObserver | None = None
        self.started = asyncio.Event()

    def _hint(self, name: str) -> None:
        self.bus.publish(EventType.VERSION_CHANGED, name)

    def _new_observer(self) -> BaseObserver:
        if self.poll:
            return PollingObserver(timeout=self.poll_interval)
        return Observer()

    async def _start_observer(self, debouncer: Debouncer, loop: asyncio.AbstractEventLoop) -> BaseObserver:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._root_lost = asyncio.Event()

        def on_change(name: str) -> None:
            self.raw_events += 1
            debouncer.touch_threadsafe(name)

        handler = FolderChangeHandler(
            str(self.folder), on_change, lambda: loop.call_soon_threadsafe(self._root_lost.set), self.ignore
        )
        observer = self._new_observer()

        def schedule() -> None:
            try:
                observer.schedule(handler, str(self.folder), recursive=True, event_filter=CHANGE_EVENTS)
            except OSError as exc:
                # inotify watch limit: watch only the top level; rescans cover the rest.
                log.warning("recursive watch failed (%s); watching the top level only", exc)
                observer.unschedule_all()
                observer.schedule(handler, str(self.folder), recursive=False, event_filter=CHANGE_EVENTS)
            observer.start()

        await anyio.to_thread.run_sync(schedule)
        return observer

    def _healthy(self, observer: BaseObserver) -> bool:
        return (
            observer.is_alive()
            and not self._root_lost.is_set()
            and all(emitter.is_alive() for emitter in observer.emitters)
            and self.folder.is_dir()
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        debouncer = Debouncer(loop, self.settle, self._hint)
        observer: BaseObserver | None = None
        overflow = _OverflowListener(
            lambda: self.bus.publish_threadsafe(EventType.RESCAN_REQUESTED, reason="inotify queue overflowed")
        )
        for name in WATCHDOG_LOGGERS:
            logging.getLogger(name).addHandler(overflow)
        try:
            while True:
                observer = self._observer = await self._start_observer(debouncer, loop)
                if self.restarts:
                    self.bus.publish(EventType.RESCAN_REQUESTED, reason="watcher restarted")
                self.started.set()
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
                await anyio.to_thread.run_sync(_stop, observer)
        finally:
            for name in WATCHDOG_LOGGERS:
                logging.getLogger(name).removeHandler(overflow)
            debouncer.cancel_all()
            if observer is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_stop, observer)


def _stop(observer: BaseObserver) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join(timeout=5)
