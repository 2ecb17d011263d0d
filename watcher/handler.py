"""Turn raw watchdog events into the places of the registry layout they touched."""

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

from regwatch.registry import Location, Touched

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


# A folder's contents changed (an entry added, a file written): for a version folder that is
# a change; for a model's folder, its versions/ or models/, each entry reports itself.
_CONTENTS = (DirModifiedEvent, FileModifiedEvent, FileClosedEvent)
_WHOLE = (Touched.MODEL, Touched.MODELS)


class Touch(enum.Enum):
    """How an event touched a place."""

    CHANGED = "changed"  # something at or in it changed: wait until it is quiet
    ARRIVED = "arrived"  # it arrived by one rename: it may be complete at once
    LEFT = "left"  # it was deleted or renamed away: gone at once, nothing to wait for


class FolderChangeHandler(FileSystemEventHandler):
    """Calls `on_change(location, touch)` for each place of the layout (`locate`) that an
    event under `root` touches, and `on_root_lost()` when `root` itself disappears. Runs on
    the observer's thread.

    Only a place moved in whole (a move whose destination is the version folder or the
    release file itself) has `ARRIVED`: a folder created in place (`mkdir`, then writes) is
    never complete at once.
    """

    def __init__(
        self,
        root: str,
        locate: Callable[[list[str]], Location | None],
        on_change: Callable[[Location, Touch], None],
        on_root_lost: Callable[[], None],
    ) -> None:
        self._root = os.path.abspath(root)
        self._locate = locate
        self._on_change = on_change
        self._on_root_lost = on_root_lost

    def on_any_event(self, event: FileSystemEvent) -> None:
        moved = isinstance(event, FileSystemMovedEvent)
        gone = moved or isinstance(event, DirDeletedEvent | FileDeletedEvent)
        self._dispatch(event.src_path, event, Touch.LEFT if gone else None)
        if moved:
            self._dispatch(event.dest_path, event, Touch.ARRIVED)

    def _dispatch(self, raw_path: bytes | str, event: FileSystemEvent, itself: Touch | None) -> None:
        """`itself`: how the place is touched if `raw_path` is the place itself."""
        if not raw_path:  # the side of a move that is outside the watched tree
            return
        rel = os.path.relpath(os.fsdecode(raw_path), self._root)
        if rel == ".":
            if isinstance(event, DirDeletedEvent):
                self._on_root_lost()
            return
        parts = rel.split(os.sep)
        if parts[0] == "..":
            return
        location = self._locate(parts)
        if location is None:
            return
        if location.touched in _WHOLE and isinstance(event, _CONTENTS):
            return  # a model's folder (or models/) only matters when it appears or goes
        self._on_change(location, itself if itself is not None and location.itself else Touch.CHANGED)
