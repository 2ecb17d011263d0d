"""RegistrySync against real folders and real worker threads: inspections run side by side,
one folder's results are applied in order, settling folders are rechecked on a timer."""

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from support.hostile import watching_reads
from support.logs import log_lines
from support.models import build_folder, move_in
from watchdog.events import FileMovedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from regwatch.events import EventBus, EventType, Subscription
from regwatch.registry import ModelRegistry, Status
from regwatch.serving import RegistrySync

# sha256 of 1 GiB of zero bytes (a sparse file of that size hashes to it).
ZEROS_1GIB = "49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"


def sparse_model(folder: Path, size: int) -> None:
    with (folder / "model.joblib").open("wb") as fh:
        fh.truncate(size)


@asynccontextmanager
async def running_sync(root: Path, settle: float = 0.0) -> AsyncIterator[tuple[RegistrySync, EventBus]]:
    """The sync alone, without a watcher: the test gives the hints a watcher would."""
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    sync = RegistrySync(ModelRegistry(root, settle_seconds=settle, scan=False), bus, model="default")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(sync.run)
        await sync.initial_scan()
        yield sync, bus
        tasks.cancel_scope.cancel()


async def next_event(events: Subscription, version: str, timeout: float = 15.0) -> EventType:
    with anyio.fail_after(timeout):
        while (event := await events.get()).version != version:
            pass
    return event.type


async def test_a_long_checksum_does_not_hold_up_other_folders(root, tmp_path):
    huge = build_folder(tmp_path / "5.0.0", metadata={"sha256": "0" * 64})
    sparse_model(huge, 64 << 30)  # hashing it takes far longer than this test
    async with running_sync(root) as (sync, bus):
        huge = move_in(huge, root, "5.0.0")
        with watching_reads(huge, "model.joblib") as reads, bus.subscribe({EventType.VERSION_ADDED}) as added:
            sync.hint("5.0.0", renamed_in=True)
            await reads.until_opened()  # the checksum is under way
            move_in(build_folder(tmp_path / "good"), root, "1.0.0")
            sync.hint("1.0.0", renamed_in=True)
            assert await next_event(added, "1.0.0") is EventType.VERSION_ADDED
            assert "5.0.0" in sync.in_flight and not reads.closed.is_set()
            assert sync.registry.index.state("5.0.0") is None
    # Leaving the block cancelled the sync: the checksum stopped within a chunk.


async def test_a_stale_inspection_is_always_followed_by_a_fresh_one(root, tmp_path):
    """A folder changed while its (slow) inspection runs ends up as it is now, not as it was."""
    folder = build_folder(tmp_path / "5.0.0", metadata={"sha256": ZEROS_1GIB})
    sparse_model(folder, 1 << 30)
    async with running_sync(root) as (sync, bus):
        folder = move_in(folder, root, "5.0.0")
        changes = {EventType.VERSION_ADDED, EventType.VERSION_REMOVED, EventType.VERSION_REJECTED}
        with watching_reads(folder, "model.joblib") as reads, bus.subscribe(changes) as events:
            sync.hint("5.0.0", renamed_in=True)
            await reads.until_opened()
            (folder / "model.joblib").unlink()  # the hash goes on over the open file
            sync.hint("5.0.0")
            assert await next_event(events, "5.0.0") is EventType.VERSION_ADDED  # what was
            assert await next_event(events, "5.0.0") is EventType.VERSION_REMOVED  # what is
        state = sync.registry.index.state("5.0.0")
        assert state.status is Status.REJECTED and "no model file" in state.reason


async def test_a_settling_folder_is_rechecked_without_a_second_hint(root, tmp_path):
    async with running_sync(root, settle=0.3) as (sync, bus):
        with bus.subscribe({EventType.VERSION_CHANGED, EventType.VERSION_ADDED}) as events:
            build_folder(root / "versions" / "1.0.0")  # written in place
            sync.hint("1.0.0")
            assert await next_event(events, "1.0.0") is EventType.VERSION_ADDED  # once it settled
            assert events.pending() == 0  # the recheck did not go round through the bus


async def test_a_hint_while_versions_is_gone_keeps_the_index(root, tmp_path):
    move_in(build_folder(tmp_path / "a"), root, "1.0.0")
    async with running_sync(root) as (sync, bus):
        assert sync.registry.list_versions() == ["1.0.0"]
        versions = root / "versions"
        versions.rename(root / "aside")
        versions.write_text("not a folder")
        with log_lines("regwatch.sync") as log:
            sync.hint("1.0.0")
            await log.wait_for("keeping the versions already known")
            sync.rescan_soon()
            await log.wait_for("cannot list")
        assert sync.registry.list_versions() == ["1.0.0"]
        versions.unlink()
        (root / "aside").rename(versions)
        with bus.subscribe({EventType.VERSION_ADDED}) as added:
            move_in(build_folder(tmp_path / "b"), root, "2.0.0")
            sync.hint("2.0.0")
            await next_event(added, "2.0.0")
        assert sync.registry.list_versions() == ["1.0.0", "2.0.0"]


class _Renamed(FileSystemEventHandler):
    """Something renamed onto `name` in a folder (how the mirror is swapped in)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.happened = threading.Event()

    def on_moved(self, event: FileSystemEvent) -> None:
        if os.path.basename(os.fsdecode(event.dest_path)) == self.name:
            self.happened.set()


async def test_the_latest_mirror_follows_latest(root, tmp_path):
    renamed = _Renamed("latest")
    observer = Observer()
    observer.schedule(renamed, str(root), event_filter=[FileMovedEvent])
    observer.start()
    try:
        async with running_sync(root) as (sync, _):
            move_in(build_folder(tmp_path / "a"), root, "1.0.0")
            sync.hint("1.0.0")
            assert await anyio.to_thread.run_sync(renamed.happened.wait, 15)
    finally:
        observer.stop()
        observer.join(timeout=5)
    assert os.readlink(root / "latest") == "versions/1.0.0"
