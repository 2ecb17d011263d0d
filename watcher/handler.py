"""Turn raw watchdog events into the names of the top-level folders they touched."""

import enum
import os
from collections.abc import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)

# Only events that can change a folder's contents. Reads (a rescan reads every
# metadata.json and hashes models; the loader opens model files) must not look like
# changes, and must not even be asked of inotify: at thousands of versions one rescan's
# IN_OPEN/IN_CLOSE_NOWRITE events overflow the kernel queue, and the overflow asks for
# another rescan.
CHANGE_EVENTS = [
    DirCreatedEvent,
    FileCreatedEvent,
    DirDeletedEvent,
    FileDeletedEvent,
    DirMovedEvent,
    FileMovedEvent,
    DirModifiedEvent,
    FileModifiedEvent,
    FileClosedEvent,
]


class Touch(enum.Enum):
    """How an event touched a top-level entry."""

    CHANGED = "changed"  # something at or in it changed: wait until it is quiet
    ARRIVED = "arrived"  # the folder itself arrived by one rename: it may be complete at once
    LEFT = "left"  # it was deleted or renamed away: gone at once, nothing to wait for


class FolderChangeHandler(FileSystemEventHandler):
    """Calls `on_change(name, touch)` for each top-level entry under `root` that an event
    touches, and `on_root_lost()` when `root` itself disappears. Runs on the observer's
    thread.

    Only a folder moved in (a `DirMovedEvent` whose destination is the entry) has
    `ARRIVED`: a folder created in place (`mkdir`, then writes) is never complete at once.
    """

    def __init__(
        self,
        root: str,
        on_change: Callable[[str, Touch], None],
        on_root_lost: Callable[[], None],
        ignore: Callable[[str], bool] | None = None,
    ) -> None:
        self._root = os.path.abspath(root)
        self._on_change = on_change
        self._on_root_lost = on_root_lost
        self._ignore = ignore or (lambda name: False)

    def on_any_event(self, event: FileSystemEvent) -> None:
        moved = isinstance(event, FileSystemMovedEvent)
        gone = moved or isinstance(event, DirDeletedEvent | FileDeletedEvent)
        self._dispatch(event.src_path, event, Touch.LEFT if gone else None)
        if moved:
            self._dispatch(
                event.dest_path, event, Touch.ARRIVED if isinstance(event, DirMovedEvent) else None
            )

    def _dispatch(self, raw_path: bytes | str, event: FileSystemEvent, itself: Touch | None) -> None:
        """`itself`: how the entry is touched if `raw_path` is the entry itself."""
        if not raw_path:  # the side of a move that is outside the watched tree
            return
        rel = os.path.relpath(os.fsdecode(raw_path), self._root)
        if rel == ".":
            if isinstance(event, DirDeletedEvent):
                self._on_root_lost()
            return
        parts = rel.split(os.sep)
        if parts[0] == ".." or self._ignore(parts[0]) or self._ignore(parts[-1]):
            return
        self._on_change(parts[0], itself if itself is not None and len(parts) == 1 else Touch.CHANGED)
