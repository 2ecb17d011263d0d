"""Reading files off an untrusted volume: regular files only, bounded, never through a link.

Every byte the registry reads from a version folder goes through this module: a file is
opened with `O_NOFOLLOW` (a symlink is refused, whatever it points at) and `O_NONBLOCK`
(a FIFO cannot block the open), then checked with `fstat` on the open descriptor, so a
file swapped after the check is never the one read.
"""

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import CorruptVersion

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileIdentity:
    """Which file, and which contents of it: changes when the file is replaced or written."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileIdentity":
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open `path` for reading if it is a regular file (not a link, FIFO, device or socket).

    Returns the descriptor and its `fstat`; raises `CorruptVersion` saying what is wrong.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CorruptVersion(f"{path.name} is missing") from None
    except PermissionError:
        raise CorruptVersion(f"permission denied: {path.name}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symlink
            raise CorruptVersion(f"{path.name} is a symlink; only regular files are read") from None
        raise CorruptVersion(f"cannot open {path.name}: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise CorruptVersion(f"{path.name} is not a regular file")
    return fd, st


def identify_regular(path: Path) -> FileIdentity:
    """The identity of a regular file, without reading it (a model without a checksum)."""
    fd, st = open_regular(path)
    os.close(fd)
    return FileIdentity.of(st)


def _read_bounded(fh: BinaryIO, st: os.stat_result, path: Path, max_bytes: int) -> bytes:
    if st.st_size > max_bytes:
        raise CorruptVersion(f"{path.name} is {st.st_size} bytes, over the limit of {max_bytes}")
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise CorruptVersion(f"{path.name} grew past the limit of {max_bytes} bytes while being read")
    return data


def read_regular(path: Path, max_bytes: int) -> tuple[bytes, FileIdentity]:
    """All of a regular file's bytes, refused when it is larger than `max_bytes`."""
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        return _read_bounded(fh, st, path, max_bytes), FileIdentity.of(st)


def sha256_of_regular(path: Path, checkpoint: Callable[[], object] | None = None) -> tuple[str, FileIdentity]:
    """Hex sha256 of a regular file, streamed (a model may be far larger than memory).

    `checkpoint` runs between chunks: a caller in a worker thread passes one that raises
    when the work is no longer wanted (shutdown), so a 20 GB hash stops within a chunk.
    """
    fd, st = open_regular(path)
    digest = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if checkpoint is not None:
                checkpoint()
    return digest.hexdigest(), FileIdentity.of(st)


def read_verified(
    path: Path, expected_sha256: str | None, max_bytes: int, identity: FileIdentity | None = None
) -> bytes:
    """The bytes to load: read once, and checked against `expected_sha256` when given.

    The loader unpickles exactly these bytes, so what was hashed is what is loaded, even if
    the file is replaced or edited through a hard link in between. With `identity` (from
    the inspection) a file that was replaced or written since is refused, checksum or not.
    """
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        if identity is not None and FileIdentity.of(st) != identity:
            raise CorruptVersion(f"{path.name} changed since it was inspected")
        data = _read_bounded(fh, st, path, max_bytes)
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256.lower():
        raise CorruptVersion(f"{path.name} does not match metadata sha256")
    return data
