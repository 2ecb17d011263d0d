"""Turn raw watchdog events into the names of the top-level folders they touched."""

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


class FolderChangeHandler(FileSystemEventHandler):
    """Calls `on_change(name, renamed_in)` for each top-level entry under `root` that an
    event touches, and `on_root_lost()` when `root` itself disappears. Runs on the
    observer's thread.

    `renamed_in` is true when the entry itself arrived by one rename (a `DirMovedEvent`
    whose destination is the entry): such a folder may be complete at once. A folder
    created in place (`mkdir`, then writes) never is.
    """

    def __init__(
        self,
        root: str,
        on_change: Callable[[str, bool], None],
        on_root_lost: Callable[[], None],
        ignore: Callable[[str], bool] | None = None,
    ) -> None:
        self._root = os.path.abspath(root)
        self._on_change = on_change
        self._on_root_lost = on_root_lost
        self._ignore = ignore or (lambda name: False)

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._dispatch(event.src_path, event, arrived=False)
        if isinstance(event, FileSystemMovedEvent):
            self._dispatch(event.dest_path, event, arrived=isinstance(event, DirMovedEvent))

    def _dispatch(self, raw_path: bytes | str, event: FileSystemEvent, arrived: bool) -> None:
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
        self._on_change(parts[0], arrived and len(parts) == 1)
