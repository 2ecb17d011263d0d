"""The watcher with a real watchdog observer on a real temporary directory."""

import asyncio
import shutil

import anyio
import pytest
from support.logs import log_lines
from support.models import build_folder

from regwatch.events import EventBus, EventType
from regwatch.registry import locate, watch_points
from regwatch.watcher import FolderWatcher


async def hints_until(sub, name: str, timeout: float = 10.0) -> list[str]:
    """Collect hint names until `name` arrives."""
    got: list[str] = []
    with anyio.fail_after(timeout):
        while not got or got[-1] != name:
            got.append((await sub.get()).version)
    return got


@pytest.fixture(params=["inotify", "poll"])
async def watching(request, root):
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    watcher = FolderWatcher(
        root,
        bus,
        poll=request.param == "poll",
        poll_interval=0.1,
        settle=0.05,
        reconcile_interval=3600,
        locate=locate,
    )
    with bus.subscribe({EventType.VERSION_CHANGED}) as hints:
        # A plain task, not a task group: pytest-asyncio tears fixtures down in another task.
        task = asyncio.create_task(watcher.run())
        await watcher.started.wait()
        yield root, hints, watcher, bus
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_burst_of_writes_becomes_one_hint(watching, tmp_path):
    root, hints, _watcher, _ = watching
    folder = root / "versions" / "1.0.0"
    folder.mkdir()
    for i in range(20):
        (folder / f"part{i}").write_bytes(b"x" * 100)
    (folder / "metadata.json").write_text("{}")
    assert await hints_until(hints, "1.0.0") == ["1.0.0"]
    # A later marker proves no second hint for the burst was still on its way.
    (root / "versions" / "9.9.9").mkdir()
    assert await hints_until(hints, "9.9.9") == ["9.9.9"]


async def test_moves_in_out_and_deletes_are_hinted(watching, tmp_path):
    root, hints, *_ = watching
    build_folder(tmp_path / "staged").rename(root / "versions" / "2.0.0")
    assert await hints_until(hints, "2.0.0") == ["2.0.0"]
    shutil.rmtree(root / "versions" / "2.0.0")
    assert await hints_until(hints, "2.0.0") == ["2.0.0"]


async def test_hidden_and_temp_entries_are_ignored(watching):
    root, hints, *_ = watching
    temp = root / "versions" / ".tmp-3.0.0-host-1-abcd"
    temp.mkdir()
    (temp / "model.joblib").write_bytes(b"x")
    (root / "versions" / "notes.swp").write_text("x")
    temp.rename(root / "versions" / "3.0.0")  # the publish rename: only 3.0.0 is hinted
    assert await hints_until(hints, "3.0.0") == ["3.0.0"]


async def test_root_deleted_and_recreated_recovers_with_a_rescan(root):
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    watcher = FolderWatcher(root, bus, settle=0.05, reconcile_interval=3600, locate=locate)
    with bus.subscribe({EventType.VERSION_CHANGED, EventType.RESCAN_REQUESTED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            shutil.rmtree(root)
            with anyio.fail_after(15):
                while (event := await sub.get()).type != EventType.RESCAN_REQUESTED:
                    pass
            assert event.data["reason"] == "watcher restarted"
            (root / "versions" / "4.0.0").mkdir(parents=True, exist_ok=True)
            assert (await hints_until(sub, "4.0.0"))[-1] == "4.0.0"
            tg.cancel_scope.cancel()
    assert watcher.restarts >= 1


async def _next_rescan(sub, timeout: float = 15) -> str:
    with anyio.fail_after(timeout):
        while (event := await sub.get()).type != EventType.RESCAN_REQUESTED:
            pass
    return event.data["reason"]


async def _run_watcher(root, **options):
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    watcher = FolderWatcher(
        root, bus, settle=0.05, reconcile_interval=3600, locate=locate, top_levels=watch_points, **options
    )
    return bus, watcher


async def test_a_dead_observer_is_restarted_with_a_rescan(root):
    bus, watcher = await _run_watcher(root)
    with bus.subscribe({EventType.VERSION_CHANGED, EventType.RESCAN_REQUESTED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            dead = watcher._observer
            await anyio.to_thread.run_sync(lambda: (dead.stop(), dead.join()))
            assert await _next_rescan(sub) == "watcher restarted"
            assert watcher._observer is not dead and watcher._observer.is_alive()
            (root / "versions" / "5.0.0").mkdir()
            assert (await hints_until(sub, "5.0.0"))[-1] == "5.0.0"
            tg.cancel_scope.cancel()


async def test_inotify_overflow_triggers_an_immediate_rescan(root):
    import logging

    bus, watcher = await _run_watcher(root)
    with bus.subscribe({EventType.RESCAN_REQUESTED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            # The warning watchdog's inotify reader logs when the kernel queue overflows.
            logging.getLogger("watchdog.observers.inotify_c").warning(
                "Inotify queue overflowed; filesystem events were lost"
            )
            assert await _next_rescan(sub) == "inotify queue overflowed"
            tg.cancel_scope.cancel()


async def test_watch_limit_falls_back_to_the_top_level(root, monkeypatch, caplog):
    """With max_user_watches exhausted, the recursive watch fails; new folders are still seen."""
    from watchdog.observers.api import BaseObserver

    real_schedule = BaseObserver.schedule

    def limited(self, handler, path, *, recursive=False, **kwargs):
        if recursive:
            raise OSError(28, "inotify watch limit reached")
        return real_schedule(self, handler, path, recursive=recursive, **kwargs)

    monkeypatch.setattr(BaseObserver, "schedule", limited)
    bus, watcher = await _run_watcher(root)
    with bus.subscribe({EventType.VERSION_CHANGED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            assert "watching the top levels only" in caplog.text
            (root / "versions" / "6.0.0").mkdir()
            assert await hints_until(sub, "6.0.0") == ["6.0.0"]
            tg.cancel_scope.cancel()


async def test_periodic_reconcile_requests_rescans(root):
    bus, watcher = await _run_watcher(root)
    watcher.reconcile_interval = 1.0
    with bus.subscribe({EventType.RESCAN_REQUESTED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            assert await _next_rescan(sub) == "periodic reconcile"
            tg.cancel_scope.cancel()


async def _hint(sub, timeout: float = 10.0):
    with anyio.fail_after(timeout):
        return await sub.get()


async def test_folders_renamed_in_or_gone_are_hinted_at_once(root, tmp_path):
    """With a settle window of an hour, only renames and deletions are hinted now. The folder
    made in place first would be hinted first (events are handed over in order) if it were."""
    bus, watcher = await _run_watcher(root)
    watcher.settle = 3600
    with bus.subscribe({EventType.VERSION_CHANGED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            build_folder(root / "versions" / "2.0.0")  # in place: mkdir, then writes
            build_folder(tmp_path / "staged").rename(root / "versions" / "1.0.0")  # from outside
            hint = await _hint(sub)
            assert (hint.version, hint.data) == ("1.0.0", {"renamed_in": True})
            temp = build_folder(root / "versions" / ".tmp-3.0.0-host-1-abcd")
            temp.rename(root / "versions" / "3.0.0")  # the publish rename, inside the tree
            hint = await _hint(sub)
            assert (hint.version, hint.data) == ("3.0.0", {"renamed_in": True})
            shutil.rmtree(root / "versions" / "1.0.0")  # gone: nothing to settle
            assert (await _hint(sub)).version == "1.0.0"
            (root / "versions" / "3.0.0").rename(tmp_path / "away")  # renamed out of the tree
            hint = await _hint(sub)
            assert (hint.version, hint.data) == ("3.0.0", {})
            tg.cancel_scope.cancel()


async def test_an_unwatchable_root_is_retried_then_rescanned(root):
    bus, watcher = await _run_watcher(root)
    with bus.subscribe({EventType.RESCAN_REQUESTED}) as sub, log_lines("regwatch.watcher") as log:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            shutil.rmtree(root)
            root.write_text("a plain file where the folder was")
            await log.wait_for("cannot watch")
            root.unlink()
            assert await _next_rescan(sub) == "watcher restarted"
            assert watcher._observer is not None and watcher._observer.is_alive()
            tg.cancel_scope.cancel()


async def _until(sub, kind: EventType, model: str | None, version: str | None = None) -> list:
    """The hints up to and including the one wanted (a mkdir also reports its parent)."""
    seen = []
    while not seen or (seen[-1].type, seen[-1].model, seen[-1].version) != (kind, model, version):
        seen.append(await _hint(sub))
    return seen


async def test_one_watcher_hints_every_model_by_name(root, tmp_path):
    """models/<name>/versions/<v> is hinted with its model; a model folder appearing or going
    is hinted at once; the release file renamed in is hinted at once; mirrors are not."""
    bus, watcher = await _run_watcher(root)
    watcher.settle = 3600  # only what is hinted at once arrives
    kinds = {EventType.VERSION_CHANGED, EventType.MODEL_CHANGED, EventType.RELEASE_FILE_CHANGED}
    with bus.subscribe(kinds) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            (root / "latest").mkdir()  # the default model's mirror: never a hint
            (root / "models").mkdir()
            hints = await _until(sub, EventType.MODEL_CHANGED, None)
            assert all(hint.model is None for hint in hints)
            (root / "models" / "churn" / "versions").mkdir(parents=True)
            await _until(sub, EventType.MODEL_CHANGED, "churn")
            build_folder(tmp_path / "staged").rename(root / "models" / "churn" / "versions" / "1.0.0")
            hints = await _until(sub, EventType.VERSION_CHANGED, "churn", "1.0.0")
            assert hints[-1].data == {"renamed_in": True}
            (tmp_path / "release.json").write_text("{}")
            (tmp_path / "release.json").rename(root / "models" / "churn" / "release.json")
            await _until(sub, EventType.RELEASE_FILE_CHANGED, "churn")
            shutil.rmtree(root / "models" / "churn")
            await _until(sub, EventType.MODEL_CHANGED, "churn")
            tg.cancel_scope.cancel()


async def test_a_new_version_folder_does_not_hint_its_whole_model(root, tmp_path):
    """versions/ is modified by every entry added to it; that is the entry's hint, never a
    hint for the whole model (which would rescan every version of it)."""
    bus, watcher = await _run_watcher(root)
    with bus.subscribe({EventType.VERSION_CHANGED, EventType.MODEL_CHANGED}) as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.run)
            await watcher.started.wait()
            build_folder(tmp_path / "a").rename(root / "versions" / "1.0.0")
            (root / "versions" / "2.0.0").mkdir()
            hints = await _until(sub, EventType.VERSION_CHANGED, "default", "2.0.0")
            assert all(hint.type is EventType.VERSION_CHANGED for hint in hints)
            tg.cancel_scope.cancel()
