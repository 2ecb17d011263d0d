"""Inspecting one version folder: is it complete, and what does its metadata say?

`inspect_version` does all of the file I/O for one version and nothing else, so a caller
can run it in a worker thread and apply the result to the index on its own thread.

The volume is untrusted: a version folder may be a symlink (followed only when it stays
inside the root; a loop is a rejection), a file may be a FIFO, a device, a symlink, huge,
or nested a hundred thousand deep. Whatever is found, one folder's inspection returns a
state, with the reason in it when the folder is unusable; it never raises. Only a
`versions/` that cannot be looked into at all raises (`RegistryUnavailable`), since that
says nothing about any one version.
"""

import enum
import errno
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from .errors import CorruptVersion, InvalidVersionName, RegistryUnavailable
from .files import FileIdentity, identify_regular, read_regular, sha256_of_regular
from .formats import MODEL_FILES, ModelFormat
from .metadata import DEFAULT_MAX_METADATA_BYTES, METADATA_FILE, parse_metadata
from .versions import parse_version, printable

log = logging.getLogger("regwatch.registry")


class Status(enum.Enum):
    COMPLETE = "complete"
    SETTLING = "settling"  # complete on paper, but written to within the settle window
    REJECTED = "rejected"  # present but unusable; `reason` says why
    MISSING = "missing"  # no such folder


Fingerprint = tuple[int, ...]


@dataclass(frozen=True)
class VersionState:
    """What one folder under `versions/` looked like when it was last inspected.

    A complete state carries everything the loader needs, so nothing is looked up by name
    again: the model file's format and absolute path (inside the resolved version folder),
    the checksum it must match and the identity of the file that was inspected.
    """

    name: str
    status: Status
    version: Version | None = None
    reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: Fingerprint = ()
    settles_in: float = 0.0
    format: ModelFormat | None = None
    model_path: Path | None = None
    sha256: str | None = None  # lowercase hex, when the metadata gives one
    model_identity: FileIdentity | None = None


def _stat_parts(st: os.stat_result) -> Fingerprint:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _files_fingerprint(folder: Path) -> tuple[Fingerprint, list[ModelFormat]]:
    """Cheap change detector for the files that matter (links are not followed), and the
    model files present. Every candidate model file is in it, so one added next to another
    (now ambiguous) is a change too."""
    parts: list[int] = []
    present = []
    for name in (*MODEL_FILES, METADATA_FILE):
        try:
            parts.extend(_stat_parts(os.lstat(folder / name)))
        except OSError:
            parts.extend((0, 0, 0, 0))
            continue
        if name in MODEL_FILES:
            present.append(ModelFormat(name))
    return tuple(parts), present


def _model_format(present: list[ModelFormat], allow_pickle: bool) -> ModelFormat:
    """The one model file the folder holds, or why there is not exactly one usable one.

    Anything by a model file's name counts as present, a symlink or FIFO included: reading
    it refuses it later, with a reason, rather than another file being picked instead.
    """
    if not present:
        raise CorruptVersion(f"no model file ({', '.join(MODEL_FILES[:-1])} or {MODEL_FILES[-1]})")
    if len(present) > 1:
        names = " and ".join(fmt.value for fmt in present)
        raise CorruptVersion(f"ambiguous: {names} are both here; a version holds one model file")
    fmt = present[0]
    if fmt.runs_code and not allow_pickle:
        raise CorruptVersion(
            f"{fmt.value} is a pickle (loading it runs code) and pickles are refused here "
            "(REGWATCH_ALLOW_PICKLE=false); publish it --as skops or --as onnx"
        )
    return fmt


def _resolve_folder(entry_path: Path, entry: os.stat_result, root: Path) -> Path:
    """The real folder behind `versions/<name>`: the entry itself, or the target of a
    symlink that stays inside the registry root."""
    if not stat.S_ISLNK(entry.st_mode):
        if not stat.S_ISDIR(entry.st_mode):
            raise CorruptVersion("not a folder")
        return entry_path
    try:
        folder = Path(os.path.realpath(entry_path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptVersion("folder is a symlink loop") from None
        raise CorruptVersion(f"folder is a symlink to nowhere: {exc.strerror or exc}") from None
    if not folder.is_relative_to(os.path.realpath(root)):
        raise CorruptVersion("folder is a symlink that points outside the registry root")
    if not stat.S_ISDIR(os.stat(folder).st_mode):
        raise CorruptVersion("not a folder")
    return folder


def inspect_version(
    root: Path,
    name: str,
    *,
    settle_seconds: float = 0.0,
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
    previous: VersionState | None = None,
    renamed_in: bool = False,
    checkpoint: Callable[[], object] | None = None,
    allow_pickle: bool = True,
) -> VersionState:
    """Inspect `root/versions/name`; reuse `previous` when nothing on disk has changed.

    `renamed_in`: the folder just arrived by one rename, so it needs no settle window if it
    is complete on first look (otherwise it settles like any other). `checkpoint` runs
    between chunks of a checksum (see `files.sha256_of_regular`). `allow_pickle=False`
    rejects a folder whose model file is a pickle.
    """
    entry_path = root / "versions" / name
    try:
        entry = os.lstat(entry_path)
    except FileNotFoundError:
        return VersionState(name, Status.MISSING)
    except (NotADirectoryError, PermissionError) as exc:
        raise RegistryUnavailable(f"cannot look into {entry_path.parent}: {exc.strerror}") from None
    except OSError as exc:
        return VersionState(name, Status.REJECTED, reason=f"cannot stat folder: {exc.strerror or exc}")

    try:
        version = parse_version(name)
    except InvalidVersionName as exc:
        return VersionState(name, Status.REJECTED, reason=str(exc), fingerprint=(entry.st_mode,))

    current = _stat_parts(entry)
    try:
        folder = _resolve_folder(entry_path, entry, root)
        files, present = _files_fingerprint(folder)
        current += files
        if previous is not None and previous.fingerprint == current and previous.status in _FINAL:
            return previous
        return _inspect_contents(
            name,
            version,
            folder,
            current,
            settle_seconds,
            max_metadata_bytes,
            renamed_in,
            checkpoint,
            present,
            allow_pickle,
        )
    except CorruptVersion as exc:
        return VersionState(name, Status.REJECTED, version, str(exc), fingerprint=current)
    except Exception as exc:  # one hostile folder never stops the registry: reject it, carry on
        log.debug("inspecting %s failed", printable(name), exc_info=True)
        reason = f"cannot inspect folder: {type(exc).__name__}: {exc}"
        return VersionState(name, Status.REJECTED, version, reason, fingerprint=current)


_FINAL = (Status.COMPLETE, Status.REJECTED)


def _inspect_contents(
    name: str,
    version: Version,
    folder: Path,
    current: Fingerprint,
    settle_seconds: float,
    max_metadata_bytes: int,
    renamed_in: bool,
    checkpoint: Callable[[], object] | None,
    present: list[ModelFormat],
    allow_pickle: bool,
) -> VersionState:
    # Still being written to? Look again once it is quiet, before reading (or hashing) it.
    quiet_for = time.time() - max(current[3::4]) / 1e9
    settling = VersionState(
        name,
        Status.SETTLING,
        version,
        "still changing",
        fingerprint=current,
        settles_in=settle_seconds - quiet_for,
    )
    if quiet_for < settle_seconds and not renamed_in:
        return settling
    try:
        raw, _ = read_regular(folder / METADATA_FILE, max_metadata_bytes)
        metadata = parse_metadata(raw)
        fmt = _model_format(present, allow_pickle)
        model_path = folder / fmt.value
        expected = metadata.get("sha256")
        sha256 = expected.lower() if expected is not None else None
        if sha256 is None:
            identity = identify_regular(model_path)
        else:
            digest, identity = sha256_of_regular(model_path, checkpoint)
            if digest != sha256:
                raise CorruptVersion(f"{fmt.value} does not match metadata sha256 (still copying?)")
    except CorruptVersion:
        if quiet_for < settle_seconds:  # renamed in, but not complete on first look
            return settling
        raise
    return VersionState(
        name,
        Status.COMPLETE,
        version,
        metadata=metadata,
        fingerprint=current,
        format=fmt,
        model_path=model_path,
        sha256=sha256,
        model_identity=identity,
    )


def list_entries(root: Path) -> list[str]:
    """Names of all entries in `versions/` (hidden ones included; the caller filters)."""
    versions = root / "versions"
    try:
        with os.scandir(versions) as entries:
            return [entry.name for entry in entries]
    except OSError as exc:
        raise RegistryUnavailable(f"cannot list {versions}: {exc.strerror or exc}") from None
