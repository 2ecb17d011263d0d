"""registry.files against real files: regular files only, bounded, never through a link."""

import hashlib
import os

import pytest

from regwatch.registry import CorruptVersion, FileIdentity
from regwatch.registry.files import identify_regular, read_regular, read_verified, sha256_of_regular


def test_a_regular_file_is_read_and_identified(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    data, identity = read_regular(path, 5)
    assert data == b"hello"
    assert identity == identify_regular(path) == FileIdentity.of(os.stat(path))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: os.mkfifo(p), "not a regular file"),  # opening it must not block
        (lambda p: p.symlink_to("/dev/zero"), "is a symlink"),
        (lambda p: p.symlink_to(p.with_name("real")), "is a symlink"),
        (lambda p: p.mkdir(), "not a regular file"),
        (lambda p: None, "is missing"),
    ],
    ids=["fifo", "dev-zero-link", "link", "folder", "missing"],
)
def test_anything_but_a_regular_file_is_refused(tmp_path, make, reason):
    (tmp_path / "real").write_bytes(b"{}")
    path = tmp_path / "metadata.json"
    make(path)
    for read in (
        lambda: read_regular(path, 100),
        lambda: sha256_of_regular(path),
        lambda: identify_regular(path),
    ):
        with pytest.raises(CorruptVersion, match=reason):
            read()


def test_a_file_over_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big"
    with path.open("wb") as fh:
        fh.truncate(1 << 40)  # a sparse terabyte: refused by its size, never read
    with pytest.raises(CorruptVersion, match="over the limit of 1024"):
        read_regular(path, 1024)


def test_read_verified_checks_the_bytes_it_returns(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"model bytes")
    digest = hashlib.sha256(b"model bytes").hexdigest()
    assert read_verified(path, digest.upper(), 100) == b"model bytes"
    with pytest.raises(CorruptVersion, match="does not match"):
        read_verified(path, "0" * 64, 100)


def test_read_verified_refuses_a_file_changed_since_it_was_inspected(tmp_path):
    path = tmp_path / "model.joblib"
    path.write_bytes(b"inspected")
    identity = identify_regular(path)
    assert read_verified(path, None, 100, identity) == b"inspected"
    replacement = tmp_path / "other"
    replacement.write_bytes(b"swapped!!")
    replacement.rename(path)
    with pytest.raises(CorruptVersion, match="changed since it was inspected"):
        read_verified(path, None, 100, identity)


def test_hashing_stops_at_the_checkpoint(tmp_path):
    path = tmp_path / "model.joblib"
    with path.open("wb") as fh:
        fh.truncate(64 << 20)
    chunks = 0

    class Stop(Exception):
        pass

    def checkpoint() -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 3:
            raise Stop

    with pytest.raises(Stop):
        sha256_of_regular(path, checkpoint)
    assert chunks == 3
