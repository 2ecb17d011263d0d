"""Half-written models, bad folders and faults: the last good model keeps serving."""

import hashlib
import io
import json
import os
import shutil
import socket

import httpx
import joblib
import pytest
from support.models import (
    IRIS_ROW,
    build_folder,
    iris_model,
    move_in,
    pickled_by_other_sklearn,
    publish,
    write_slowly,
)
from support.sse import SseStream


def serving(url: str) -> str:
    return httpx.post(f"{url}/predict", json={"instances": [IRIS_ROW]}, timeout=10).json()["model_version"]


def model_bytes() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(iris_model(), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("order", ["metadata_first", "model_first"])
@pytest.mark.parametrize("with_sha", [True, False], ids=["sha256", "no-sha256"])
async def test_a_slow_copy_is_never_served_half_written(root, server_factory, order, with_sha):
    publish(root, "1.0.0")
    server = server_factory()
    data = model_bytes()
    metadata = {"sha256": hashlib.sha256(data).hexdigest()} if with_sha else {}
    folder = root / "versions" / "2.0.0"
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        folder.mkdir()
        if order == "metadata_first":
            (folder / "metadata.json").write_text(json.dumps(metadata))

        def still_old() -> None:
            assert serving(server.url) == "1.0.0"

        write_slowly(folder / "model.joblib", data, chunks=5, pause=0.2, between=still_old)
        if order == "model_first":
            (folder / "metadata.json").write_text(json.dumps(metadata))
        await events.wait_for("model_loaded", "2.0.0")
    assert serving(server.url) == "2.0.0"
    failures = [e for e in events.seen if e.event == "model_load_failed"]
    if with_sha or order == "model_first":
        # The checksum (or the metadata written last) kept the partial file from joblib.load.
        assert failures == []
    else:
        # Without either, a partial file may fail to load; it is retried once the copy settles.
        assert all(e.version == "2.0.0" for e in failures)


async def test_every_kind_of_bad_folder_is_reported_once_and_disturbs_nothing(root, server_factory, tmp_path):
    publish(root, "1.0.0")
    server = server_factory(env={"REGWATCH_RECONCILE_INTERVAL": "1"})
    versions = root / "versions"
    outside = build_folder(tmp_path / "outside")
    expected = {
        "foo": ("version_rejected", "not a PEP 440 version"),
        "_staging": ("version_rejected", "not a PEP 440 version"),
        "2.0.0": ("version_rejected", "metadata.json is missing"),  # empty folder
        "2.1.0": ("version_rejected", "no model file (model.joblib, model.skops or model.onnx)"),
        "2.2.0": ("version_rejected", "not valid JSON"),
        "2.3.0": ("version_rejected", "must hold a JSON object"),
        "2.4.0": ("model_load_failed", "cannot unpickle"),
        "2.5.0": ("model_load_failed", "has no predict() method"),
        "2.6.0": ("model_load_failed", "metadata n_features says 7"),
        "2.7.0": ("model_load_failed", "pickled with scikit-learn 1.0.2"),
        "2.8.0": ("version_rejected", "outside the registry root"),
        "2.9.0": ("version_rejected", "does not match metadata sha256"),
    }
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        (versions / "foo").mkdir()
        (versions / "_staging").mkdir()
        (versions / "2.0.0").mkdir()
        build_folder(tmp_path / "a", metadata={}).joinpath("model.joblib").unlink()
        move_in(tmp_path / "a", root, "2.1.0")
        move_in(build_folder(tmp_path / "b"), root, "2.2.0").joinpath("metadata.json").write_text("{oops")
        move_in(build_folder(tmp_path / "c"), root, "2.3.0").joinpath("metadata.json").write_text("[]")
        move_in(build_folder(tmp_path / "d", model_bytes=b"\x80\x04garbage"), root, "2.4.0")
        move_in(build_folder(tmp_path / "e", model={"not": "a model"}), root, "2.5.0")
        move_in(build_folder(tmp_path / "f", metadata={"n_features": 7}), root, "2.6.0")
        pickled_by_other_sklearn(build_folder(tmp_path / "g") / "model.joblib")
        move_in(tmp_path / "g", root, "2.7.0")
        (versions / "2.8.0").symlink_to(outside, target_is_directory=True)
        move_in(build_folder(tmp_path / "h", metadata={"sha256": "0" * 64}), root, "2.9.0")

        reports: dict[str, object] = {}
        while set(reports) != set(expected):  # they arrive in any order
            event = await events.next()
            if event.event in ("version_rejected", "model_load_failed"):
                reports[event.version] = event
        for name, (kind, reason) in expected.items():
            event = reports[name]
            assert event.event == kind, (name, event)
            assert reason in (event.data.get("reason") or event.data.get("error")), event.data
        # Let periodic rescans run over the bad folders; none may be reported again.
        rescans_before = await _rescans(server.url)
        await _wait_for_rescans(server.url, rescans_before + 2)
        publish(root, "0.9.0")  # a marker: everything before it has been delivered
        await events.wait_for("version_added", "0.9.0")
    assert serving(server.url) == "1.0.0"
    reported = [e.version for e in events.seen if e.event in ("version_rejected", "model_load_failed")]
    assert sorted(reported) == sorted(expected), reported
    models = httpx.get(f"{server.url}/models").json()
    assert {r["version"] for r in models["rejected"]} >= {"foo", "_staging", "2.0.0", "2.8.0"}
    assert set(models["load_failures"]) == {"2.4.0", "2.5.0", "2.6.0", "2.7.0"}


async def _rescans(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    return next(
        f.samples[0].value for f in text_string_to_metric_families(text) if f.name == "regwatch_rescans"
    )


async def _wait_for_rescans(url: str, at_least: float) -> None:
    import anyio

    with anyio.fail_after(15):
        while await _rescans(url) < at_least:
            await anyio.sleep(0.1)  # bounded wait for a periodic timer; there is no event for it


async def test_a_fixed_folder_is_retried_and_served(root, server, tmp_path):
    publish(root, "1.0.0")
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        folder = move_in(build_folder(tmp_path / "x", model_bytes=b"junk"), root, "1.1.0")
        await events.wait_for("model_load_failed", "1.1.0")
        joblib.dump(iris_model(), folder / "model.joblib")
        await events.wait_for("model_loaded", "1.1.0")
    assert serving(server.url) == "1.1.0"


async def test_version_mismatch_can_be_allowed_with_a_warning(root, server_factory, tmp_path):
    server = server_factory(env={"REGWATCH_ALLOW_VERSION_MISMATCH": "true"})
    async with SseStream(server.url) as events:
        pickled_by_other_sklearn(build_folder(tmp_path / "old") / "model.joblib")
        move_in(tmp_path / "old", root, "1.0.0")
        loaded = await events.wait_for("model_loaded", "1.0.0")
    assert "pickled with scikit-learn 1.0.2" in loaded.data["warnings"][0]


async def test_conflicting_spellings_fall_back_to_the_previous_version(root, server, tmp_path):
    publish(root, "1.0.0")
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        publish(root, "3.0.0")
        await events.wait_for("model_loaded", "3.0.0")
        move_in(build_folder(tmp_path / "dup"), root, "3.0")
        rejected = await events.wait_for("version_rejected", "3.0")
        assert "conflict" in rejected.data["reason"]
        await events.wait_for("model_loaded", "1.0.0")
        shutil.rmtree(root / "versions" / "3.0")
        await events.wait_for("model_loaded", "3.0.0")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
async def test_unreadable_files_are_rejected(root, server, tmp_path):
    async with SseStream(server.url) as events:
        folder = build_folder(tmp_path / "locked")
        (folder / "metadata.json").chmod(0)
        move_in(folder, root, "1.0.0")
        rejected = await events.wait_for("version_rejected", "1.0.0")
    assert "permission denied" in rejected.data["reason"]


async def test_poll_mode_has_the_same_semantics(root, server_factory, tmp_path):
    server = server_factory("--poll", env={"REGWATCH_POLL_INTERVAL": "0.2"})
    async with SseStream(server.url) as events:
        publish(root, "1.0.0")
        await events.wait_for("model_loaded", "1.0.0")
        move_in(build_folder(tmp_path / "n"), root, "1.1.0")
        await events.wait_for("model_loaded", "1.1.0")
        move_in(build_folder(tmp_path / "bad", model_bytes=b"junk"), root, "1.2.0")
        await events.wait_for("model_load_failed", "1.2.0")
        shutil.rmtree(root / "versions" / "1.1.0")
        await events.wait_for("model_loaded", "1.0.0")
    assert serving(server.url) == "1.0.0"


async def test_registry_root_deleted_and_recreated_recovers(root, server):
    publish(root, "1.0.0")
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        # The watcher recreates versions/ as soon as it goes, which can race rmtree's last rmdir.
        shutil.rmtree(root, ignore_errors=True)
        await events.wait_for("version_removed", "1.0.0")
        assert serving(server.url) == "1.0.0"  # the last model keeps serving
        publish(root, "2.0.0")
        await events.wait_for("model_loaded", "2.0.0")
    assert serving(server.url) == "2.0.0"


def test_start_up_removes_temp_folders_of_crashed_publishes(root, server_factory):
    dead = root / "versions" / f".tmp-5.0.0-{socket.gethostname()}-999999-deadbeef"
    dead.mkdir()
    (dead / "model.joblib").write_bytes(b"half")
    server = server_factory()
    server.wait_for_line(lambda line: "removed temp folders" in line)
    assert not dead.exists()
    assert httpx.get(f"{server.url}/models").json()["versions"] == []
