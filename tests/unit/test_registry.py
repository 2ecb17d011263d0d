"""ModelRegistry against a real temporary directory."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from support.models import build_folder, iris_model

from regwatch.registry import (
    InvalidVersionName,
    ModelRegistry,
    Status,
    VersionExists,
    VersionNotFound,
)


def test_save_and_read_back(root):
    registry = ModelRegistry(root)
    registry.save_model("1.0.0", iris_model(), {"description": "first", "custom": [1, 2]})
    registry.save_model("1.10.0", iris_model())
    registry.save_model("1.9.0", iris_model())
    assert registry.list_versions() == ["1.0.0", "1.9.0", "1.10.0"]
    assert registry.get_latest_version() == "1.10.0"
    meta = registry.get_metadata("1.0.0")
    assert meta["description"] == "first" and meta["custom"] == [1, 2]
    assert meta["n_features"] == 4 and len(meta["sha256"]) == 64
    assert hasattr(registry.get_latest_model(), "predict")
    assert os.readlink(root / "latest") == "versions/1.10.0"
    assert (root / "latest" / "model.joblib").is_file()
    # A fresh instance rediscovers everything from disk.
    assert ModelRegistry(root).list_versions() == ["1.0.0", "1.9.0", "1.10.0"]


def test_unknown_versions_raise_the_packages_own_error(root):
    registry = ModelRegistry(root)
    for name in ["9.9.9", "..", "../etc/passwd", "/etc", "nonsense"]:
        with pytest.raises(VersionNotFound):
            registry.get_metadata(name)
        with pytest.raises(VersionNotFound):
            registry.get_model(name)
    with pytest.raises(VersionNotFound):
        registry.get_latest_model()


def test_versions_are_immutable_and_names_validated(root):
    registry = ModelRegistry(root)
    registry.save_model("1.0.0", iris_model())
    with pytest.raises(VersionExists):
        registry.save_model("1.0.0", iris_model())
    with pytest.raises(VersionExists):
        registry.save_model("1.0", iris_model())
    for bad in ["../evil", "foo", ".hidden", ""]:
        with pytest.raises(InvalidVersionName):
            registry.save_model(bad, iris_model())
    assert sorted(os.listdir(root / "versions")) == ["1.0.0"]


def test_publish_file_copies_an_existing_joblib(root, tmp_path):
    source = build_folder(tmp_path / "src") / "model.joblib"
    registry = ModelRegistry(root)
    registry.publish_file(source, "2.0.0", {"description": "copied"})
    assert source.exists()
    assert registry.get_metadata("2.0.0")["description"] == "copied"


def test_a_failing_save_leaves_nothing_behind(root):
    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    registry = ModelRegistry(root)
    with pytest.raises(RuntimeError):
        registry.save_model("1.0.0", Unpicklable())
    assert os.listdir(root / "versions") == []


def test_kill_9_mid_save_leaves_no_visible_version(root):
    """A publisher killed while writing the model leaves only a hidden temp folder,
    which the next start-up removes."""
    script = textwrap.dedent(f"""
        import sys, time
        from regwatch.registry import ModelRegistry

        class Slow:
            def __reduce__(self):
                print("writing", flush=True)
                time.sleep(60)
                return (dict, ())

        ModelRegistry({str(root)!r}).save_model("3.0.0", Slow())
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"  # the writer is mid-save
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    leftovers = os.listdir(root / "versions")
    assert all(name.startswith(".tmp-3.0.0-") for name in leftovers) and leftovers
    registry = ModelRegistry(root)
    assert registry.list_versions() == []
    assert registry.remove_stale_temp_folders() == leftovers
    assert os.listdir(root / "versions") == []


def test_stale_temp_folders_of_live_processes_are_kept(root):
    registry = ModelRegistry(root)
    mine = root / "versions" / f".tmp-1.0.0-{os.uname().nodename}-{os.getpid()}-abcd1234"
    mine.mkdir()
    assert registry.remove_stale_temp_folders() == []
    assert mine.exists()


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({}, "metadata.json is missing"),
        ({"metadata.json": "{}"}, "no model file (model.joblib, model.skops or model.onnx)"),
        ({"metadata.json": "{not json", "model.joblib": "x"}, "not valid JSON"),
        ({"metadata.json": "[1, 2]", "model.joblib": "x"}, "must hold a JSON object"),
        ({"metadata.json": '{"n_features": "four"}', "model.joblib": "x"}, "n_features"),
        ({"metadata.json": '{"sha256": "abc"}', "model.joblib": "x"}, "64-character"),
        ({"metadata.json": json.dumps({"sha256": "0" * 64}), "model.joblib": "x"}, "does not match"),
    ],
)
def test_incomplete_or_broken_folders_are_rejected_with_a_reason(root, files, reason):
    folder = root / "versions" / "1.0.0"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    state = ModelRegistry(root, scan=False).inspect("1.0.0")
    assert state.status is Status.REJECTED
    assert reason in state.reason


def test_symlinks_out_of_the_registry_are_rejected(root, tmp_path):
    outside = build_folder(tmp_path / "outside")
    (root / "versions" / "1.0.0").symlink_to(outside, target_is_directory=True)
    inside = root / "versions" / "2.0.0"
    inside.mkdir()
    (inside / "metadata.json").write_text("{}")
    (inside / "model.joblib").symlink_to(outside / "model.joblib")
    registry = ModelRegistry(root)
    assert registry.list_versions() == []
    assert "outside the registry root" in registry.index.state("1.0.0").reason
    assert "is a symlink; only regular files are read" in registry.index.state("2.0.0").reason


def test_a_folder_written_to_just_now_is_settling(root, tmp_path):
    build_folder(tmp_path / "f").rename(root / "versions" / "1.0.0")
    registry = ModelRegistry(root, settle_seconds=3600, scan=False)
    state = registry.inspect("1.0.0")
    assert state.status is Status.SETTLING and state.settles_in > 0


def test_unreadable_metadata_is_rejected_not_raised(root, tmp_path, monkeypatch):
    """Root reads any file, so the permission error is injected where the open happens."""
    build_folder(tmp_path / "f").rename(root / "versions" / "1.0.0")
    real_open = os.open

    def denied(path, *args, **kwargs):
        if os.fspath(path).endswith("metadata.json"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    state = ModelRegistry(root, scan=False).inspect("1.0.0")
    assert state.status is Status.REJECTED and "permission denied" in state.reason
