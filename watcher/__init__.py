"""File-system watching: raw watchdog events in, debounced per-folder hints out on the bus."""

from .debounce import Debouncer
from .handler import FolderChangeHandler
from .watcher import FolderWatcher

__all__ = ["Debouncer", "FolderChangeHandler", "FolderWatcher"]
