"""Inspecting one version folder: is it complete, and what does its metadata say?

`inspect_version` does all of the file I/O for one version and nothing else, so a caller
can run it in a worker thread and apply the result to the index on its own thread.
"""

import enum
import hashlib
import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from .errors import InvalidVersionName
from .versions import parse_version

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
_HASH_CHUNK = 1 << 20


class Status(enum.Enum):
    COMPLETE = "complete"
    SETTLING = "settling"  # complete on paper, but written to within the settle window
    REJECTED = "rejected"  # present but unusable; `reason` says why
    MISSING = "missing"  # no such folder


Fingerprint = tuple[int, ...]


@dataclass(frozen=True)
class VersionState:
    """What one folder under `versions/` looked like when it was last inspected."""

    name: str
    status: Status
    version: Version | None = None
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: Fingerprint = ()
    settles_in: float = 0.0


def fingerprint(folder: Path) -> Fingerprint:
    """Cheap change detector: stat of the folder and of the two files that matter."""
    parts: list[int] = []
    for path in (folder, folder / MODEL_FILE, folder / METADATA_FILE):
        try:
            st = path.stat()
        except OSError:
            parts.extend((0, 0, 0, 0))
            continue
        parts.extend((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(parts)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _escapes(path: Path, root: Path) -> bool:
    """True for a symlink that resolves outside `root`. Only symlinks are resolved (an
    expensive walk): a plain entry cannot leave, since version names hold no separator."""
    return path.is_symlink() and not path.resolve().is_relative_to(root.resolve())


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"{METADATA_FILE} is missing") from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{METADATA_FILE} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{METADATA_FILE} must hold a JSON object, not {type(data).__name__}")
    n_features = data.get("n_features")
    if n_features is not None and (
        isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1
    ):
        raise ValueError("metadata n_features must be a positive integer")
    checksum = data.get("sha256")
    if checksum is not None and not (
        isinstance(checksum, str)
        and len(checksum) == 64
        and all(c in "0123456789abcdefABCDEF" for c in checksum)
    ):
        raise ValueError("metadata sha256 must be a 64-character hex digest")
    return data


def inspect_version(
    root: Path,
    name: str,
    settle_seconds: float = 0.0,
    previous: VersionState | None = None,
) -> VersionState:
    """Inspect `root/versions/name`; reuse `previous` when nothing on disk has changed."""
    folder = root / "versions" / name
    try:
        mode = folder.lstat().st_mode
    except FileNotFoundError:
        return VersionState(name, Status.MISSING)
    except OSError as exc:
        return VersionState(name, Status.REJECTED, reason=f"cannot stat folder: {exc.strerror}")

    try:
        version = parse_version(name)
    except InvalidVersionName as exc:
        return VersionState(name, Status.REJECTED, reason=str(exc), fingerprint=(mode,))

    current = fingerprint(folder)
    if (
        previous is not None
        and previous.fingerprint == current
        and previous.status
        in (
            Status.COMPLETE,
            Status.REJECTED,
        )
    ):
        return previous

    def rejected(reason: str) -> VersionState:
        return VersionState(name, Status.REJECTED, version, reason, fingerprint=current)

    if stat.S_ISLNK(mode) and _escapes(folder, root):
        return rejected("folder is a symlink that points outside the registry root")
    if not folder.is_dir():
        return rejected("not a folder")
    # Still being written to? Look again once it is quiet, before reading (or hashing) it.
    quiet_for = time.time() - max(current[3::4]) / 1e9
    if quiet_for < settle_seconds:
        return VersionState(
            name,
            Status.SETTLING,
            version,
            "still changing",
            fingerprint=current,
            settles_in=settle_seconds - quiet_for,
        )
    try:
        metadata = _read_metadata(folder / METADATA_FILE)
        model = folder / MODEL_FILE
        if not model.is_file():
            return rejected(f"{MODEL_FILE} is missing")
        if _escapes(model, root):
            return rejected(f"{MODEL_FILE} is a symlink that points outside the registry root")
        expected = metadata.get("sha256")
        if expected is not None and sha256_of(model) != expected.lower():
            return rejected(f"{MODEL_FILE} does not match metadata sha256 (still copying?)")
    except ValueError as exc:
        return rejected(str(exc))
    except PermissionError as exc:
        return rejected(f"permission denied: {exc.filename}")
    except OSError as exc:
        return rejected(f"cannot read folder: {exc.strerror or exc}")

    return VersionState(name, Status.COMPLETE, version, "", metadata, current)


def list_entries(root: Path) -> list[str]:
    """Names of all entries in `versions/` (hidden ones included; the caller filters)."""
    try:
        return [entry.name for entry in os.scandir(root / "versions")]
    except FileNotFoundError:
        return []
