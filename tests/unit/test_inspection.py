"""Inspecting folders on a hostile volume, against real files: it never raises for one
folder, it tells the loader exactly what was inspected, and the rename fast path."""

import hashlib
import io
import json
import os
import tempfile
from functools import cache
from pathlib import Path

import joblib
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support.models import build_folder, iris_model, publish

from regwatch.registry import (
    CorruptVersion,
    ModelRegistry,
    RegistryUnavailable,
    Status,
    try_parse_version,
)


def test_a_complete_state_carries_what_the_loader_needs(root, tmp_path):
    publish(root, "1.0.0")
    real = root / "versions" / "1.0.0"
    (root / "versions" / "1.0.1").symlink_to("1.0.0")  # a link inside the root is followed
    registry = ModelRegistry(root)
    state = registry.index.state("1.0.1")
    assert state.status is Status.COMPLETE
    assert state.model_path == real / "model.joblib" and state.model_path.is_absolute()
    assert state.sha256 == hashlib.sha256(state.model_path.read_bytes()).hexdigest()
    assert state.model_identity.inode == os.stat(real / "model.joblib").st_ino
    assert registry.model_path("1.0.1") == state.model_path
    assert hasattr(registry.get_model("1.0.1"), "predict")


def test_get_model_refuses_a_file_replaced_since_inspection(root, tmp_path):
    build_folder(tmp_path / "f", metadata={}).rename(root / "versions" / "1.0.0")
    registry = ModelRegistry(root)
    replacement = build_folder(tmp_path / "g", model=iris_model(c=0.5)) / "model.joblib"
    replacement.rename(root / "versions" / "1.0.0" / "model.joblib")
    with pytest.raises(CorruptVersion, match="changed since it was inspected"):
        registry.get_model("1.0.0")


def test_a_renamed_in_folder_complete_on_first_look_needs_no_settle_window(root, tmp_path):
    build_folder(tmp_path / "f").rename(root / "versions" / "1.0.0")
    registry = ModelRegistry(root, settle_seconds=3600, scan=False)
    assert registry.inspect("1.0.0").status is Status.SETTLING  # written in place, as far as we know
    assert registry.inspect("1.0.0", renamed_in=True).status is Status.COMPLETE


def test_a_renamed_in_folder_that_is_incomplete_settles_as_usual(root, tmp_path):
    folder = build_folder(tmp_path / "f", metadata={"sha256": "0" * 64})
    folder.rename(root / "versions" / "1.0.0")
    settling = ModelRegistry(root, settle_seconds=3600, scan=False).inspect("1.0.0", renamed_in=True)
    assert settling.status is Status.SETTLING
    settled = ModelRegistry(root, settle_seconds=0, scan=False).inspect("1.0.0", renamed_in=True)
    assert settled.status is Status.REJECTED and "does not match" in settled.reason


def test_versions_replaced_by_a_file_keeps_the_index(root, tmp_path):
    publish(root, "1.0.0")
    registry = ModelRegistry(root)
    versions = root / "versions"
    versions.rename(root / "aside")
    versions.write_text("not a folder")
    assert registry.scan() == []
    assert registry.list_versions() == ["1.0.0"]
    with pytest.raises(RegistryUnavailable):
        registry.inspect("1.0.0")
    versions.unlink()
    (root / "aside").rename(versions)
    assert registry.scan() == []
    assert registry.list_versions() == ["1.0.0"]


def test_a_crash_inside_inspection_rejects_only_that_folder(root, tmp_path, monkeypatch):
    """The catch-all at the one-folder boundary: an unexpected error becomes a reason."""
    from regwatch.registry import folder as folder_module

    build_folder(tmp_path / "a").rename(root / "versions" / "1.0.0")
    build_folder(tmp_path / "b").rename(root / "versions" / "2.0.0")
    real = folder_module.parse_metadata

    def explode(raw: bytes) -> dict:
        if b"boom" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return real(raw)

    monkeypatch.setattr(folder_module, "parse_metadata", explode)
    (root / "versions" / "2.0.0" / "metadata.json").write_text('{"description": "boom"}')
    registry = ModelRegistry(root)
    assert registry.list_versions() == ["1.0.0"]
    assert "RecursionError" in registry.index.state("2.0.0").reason


# -- any tree at all -----------------------------------------------------------------------

GOOD = "99999.0.0"
MAX_METADATA = 4096

names = st.one_of(
    st.sampled_from(["1.0", "1.0.0", "2.0.0rc1", "v3", "0.1", "foo", "1.0.0\n", "_x"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), min_size=1, max_size=12),
).filter(lambda name: name not in (".", ".."))

file_kinds = st.sampled_from(
    [
        "missing",
        "valid",
        "garbage",
        "deep",
        "nan",
        "huge",
        "fifo",
        "dev_zero",
        "outside",
        "loop",
        "folder",
        "sha_mismatch",
        "dangling",
    ]
)
entry_kinds = st.one_of(
    st.tuples(st.just("folder"), file_kinds, file_kinds, st.booleans()),
    st.tuples(
        st.sampled_from(
            ["self_link", "link_to_sibling", "outside_link", "fifo", "file", "dev_zero", "root_link"]
        ),
        st.none(),
        st.none(),
        st.booleans(),
    ),
)


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        fh.truncate(size)


@cache
def _model_bytes() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(iris_model(), buffer)
    return buffer.getvalue()


def _write_file(path: Path, kind: str, outside: Path, model_bytes: bytes) -> None:
    writers = {
        "missing": lambda: None,
        "valid": lambda: path.write_bytes(b"{}" if path.name == "metadata.json" else model_bytes),
        "garbage": lambda: path.write_bytes(b"\x80\x04not json, not a pickle"),
        "deep": lambda: path.write_text("[" * 2000 + "]" * 2000),
        "nan": lambda: path.write_text('{"x": NaN}'),
        "huge": lambda: _sparse(path, MAX_METADATA * 4),
        "fifo": lambda: os.mkfifo(path),
        "dev_zero": lambda: path.symlink_to("/dev/zero"),
        "outside": lambda: path.symlink_to(outside / "secret.json"),
        "loop": lambda: path.symlink_to(path.name),
        "folder": lambda: (path / "nested" / "deeper").mkdir(parents=True),
        "sha_mismatch": lambda: path.write_text(json.dumps({"sha256": "0" * 64})),
        "dangling": lambda: path.symlink_to(path.with_name("nowhere")),
    }
    writers[kind]()


def _make_entry(
    versions: Path, name: str, kind: tuple, outside: Path, siblings: list[str], model: bytes
) -> None:
    shape, metadata_kind, model_kind, flag = kind
    entry = versions / name
    if shape == "folder":
        entry.mkdir()
        _write_file(entry / "metadata.json", metadata_kind, outside, model)
        _write_file(entry / "model.joblib", model_kind, outside, model)
        if flag:
            (entry / "sub" / "metadata.json").mkdir(parents=True)  # nesting that means nothing
    elif shape == "self_link":
        entry.symlink_to(name)
    elif shape == "link_to_sibling":
        entry.symlink_to(siblings[0] if siblings and flag else "missing-sibling")
    elif shape == "outside_link":
        entry.symlink_to(outside, target_is_directory=True)
    elif shape == "root_link":
        entry.symlink_to("..")  # inside the root, but the root is no version folder
    elif shape == "fifo":
        os.mkfifo(entry)
    elif shape == "file":
        entry.write_bytes(b"x" * (100 if flag else 0))
    elif shape == "dev_zero":
        entry.symlink_to("/dev/zero")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(names, entry_kinds, max_size=6))
def test_no_tree_stops_the_registry(tree):
    """Whatever is in versions/, a scan never raises, nothing hostile becomes available, and
    a good version dropped in afterwards is indexed and latest."""
    assume(
        all((try_parse_version(name) or try_parse_version("0")) < try_parse_version(GOOD) for name in tree)
    )
    model = _model_bytes()
    with tempfile.TemporaryDirectory() as work:
        root, outside = Path(work) / "registry", Path(work) / "outside"
        (root / "versions").mkdir(parents=True)
        build_folder(outside)
        (outside / "secret.json").write_text('{"secret": true}')
        for name, kind in tree.items():
            _make_entry(root / "versions", name, kind, outside, sorted(tree), model)

        registry = ModelRegistry(root, max_metadata_bytes=MAX_METADATA)
        for name in registry.list_versions():  # whatever is available is a sound folder
            state = registry.index.state(name)
            assert state.model_path is not None and state.model_path.is_file()
            assert state.model_path.resolve().is_relative_to(root.resolve())
            assert not state.model_path.is_symlink()
        assert all(entry.name.isprintable() for entry in registry.index.rejected())

        build_folder(Path(work) / GOOD, model_bytes=model).rename(root / "versions" / GOOD)
        registry.refresh(GOOD)
        assert GOOD in registry.list_versions()
        assert registry.get_latest_version() == GOOD
        assert registry.scan() == []  # a second look changes nothing, reports nothing again
