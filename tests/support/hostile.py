"""What an attacker (or an accident) drops onto a registry volume, and ways to watch it read."""

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
from watchdog.events import FileClosedNoWriteEvent, FileOpenedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .models import build_folder

BAD = "9.0.0"  # a high version: were it ever accepted, it would become latest and serve
SECRET = "do-not-leak-4f1c"


def _drop(folder: Path, versions: Path) -> None:
    """Into the registry with one rename, as a finished folder arrives."""
    folder.rename(versions / folder.name)


def _with_metadata(folder: Path, write: Callable[[Path], object]) -> Path:
    build_folder(folder)
    (folder / "metadata.json").unlink()
    write(folder / "metadata.json")
    return folder


def self_symlink(versions: Path, staging: Path, name: str = BAD) -> str:
    os.symlink(name, versions / name)  # ln -s 9.0.0 versions/9.0.0
    return "symlink loop"


def symlink_loop(versions: Path, staging: Path, name: str = BAD) -> str:
    partner = f"{name}-partner"  # name -> partner -> name; the partner is hidden while built
    os.symlink(name, versions / f".{partner}")
    os.symlink(partner, versions / name)
    os.rename(versions / f".{partner}", versions / partner)
    return "symlink loop"


def deep_metadata(versions: Path, staging: Path, name: str = BAD) -> str:
    _drop(_with_metadata(staging / name, lambda p: p.write_text("[" * 100_000 + "]" * 100_000)), versions)
    return "nests deeper than"


def huge_metadata(versions: Path, staging: Path, name: str = BAD) -> str:
    payload = json.dumps({"description": "x" * (2 << 20)})
    _drop(_with_metadata(staging / name, lambda p: p.write_text(payload)), versions)
    return "over the limit"


def dev_zero_metadata(versions: Path, staging: Path, name: str = BAD) -> str:
    _drop(_with_metadata(staging / name, lambda p: p.symlink_to("/dev/zero")), versions)
    return "metadata.json is a symlink"


def dev_zero_model(versions: Path, staging: Path, name: str = BAD) -> str:
    folder = build_folder(staging / name)
    (folder / "model.joblib").unlink()
    (folder / "model.joblib").symlink_to("/dev/zero")
    _drop(folder, versions)
    return "model.joblib is a symlink"


def fifo_metadata(versions: Path, staging: Path, name: str = BAD) -> str:
    _drop(_with_metadata(staging / name, os.mkfifo), versions)
    return "metadata.json is not a regular file"


def fifo_model(versions: Path, staging: Path, name: str = BAD) -> str:
    folder = build_folder(staging / name)
    (folder / "model.joblib").unlink()
    os.mkfifo(folder / "model.joblib")
    _drop(folder, versions)
    return "model.joblib is not a regular file"


def metadata_outside_root(versions: Path, staging: Path, name: str = BAD) -> str:
    secret = staging / "secret.json"
    secret.write_text(json.dumps({"description": SECRET}))
    _drop(_with_metadata(staging / name, lambda p: p.symlink_to(secret)), versions)
    return "metadata.json is a symlink"


def nan_metadata(versions: Path, staging: Path, name: str = BAD) -> str:
    _drop(_with_metadata(staging / name, lambda p: p.write_text('{"metrics": {"loss": NaN}}')), versions)
    return "NaN is not allowed"


HOSTILE: dict[str, Callable[[Path, Path], str]] = {
    maker.__name__: maker
    for maker in (
        self_symlink,
        symlink_loop,
        deep_metadata,
        huge_metadata,
        dev_zero_metadata,
        dev_zero_model,
        fifo_metadata,
        fifo_model,
        metadata_outside_root,
        nan_metadata,
    )
}
"""kind -> maker(versions_dir, staging_dir, name="9.0.0"): creates `versions/<name>` and returns
the reason it is expected to be rejected with."""


class FileReads(FileSystemEventHandler):
    """Who opens and closes a file: inotify's own open/close events on its folder."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.opened = threading.Event()
        self.closed = threading.Event()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if os.path.basename(os.fsdecode(event.src_path)) != self.name:
            return
        if isinstance(event, FileOpenedEvent):
            self.opened.set()
        elif isinstance(event, FileClosedNoWriteEvent) and self.opened.is_set():
            self.closed.set()

    async def until_opened(self, timeout: float = 15.0) -> None:
        if not await anyio.to_thread.run_sync(self.opened.wait, timeout):
            raise TimeoutError(f"nobody opened {self.name}")


@contextmanager
def watching_reads(folder: Path, name: str) -> Iterator[FileReads]:
    """Observe reads of `folder/name` (the watch follows the folder if it is renamed)."""
    reads = FileReads(name)
    observer = Observer()
    observer.schedule(reads, str(folder), event_filter=[FileOpenedEvent, FileClosedNoWriteEvent])
    observer.start()
    try:
        yield reads
    finally:
        observer.stop()
        observer.join(timeout=5)
