"""`ModelRegistry`: the registry volume as a Python object.

Reads go through the in-memory `VersionIndex`; `scan` and `refresh` keep it in step with
the disk. Publishing writes into a hidden temp folder inside `versions/` and renames it
into place, so a reader (or a watcher) never sees half a version.
"""

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from .errors import CorruptVersion, RegistryError, RegistryUnavailable, VersionExists, VersionNotFound
from .files import read_verified, sha256_of_regular
from .folder import Status, VersionState, inspect_version, list_entries
from .formats import ModelFormat
from .index import Change, VersionIndex
from .metadata import DEFAULT_MAX_METADATA_BYTES, METADATA_FILE
from .versions import is_ignored_name, parse_version, try_parse_version

log = logging.getLogger("regwatch.registry")

TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 3600.0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class ModelRegistry:
    """A registry rooted at `root` (`versions/<name>/` folders plus a `latest` mirror)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        include_prereleases: bool = False,
        settle_seconds: float = 0.0,
        max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES,
        allow_pickle: bool = True,
        scan: bool = True,
    ) -> None:
        self.root = Path(root).absolute()
        self.versions_dir = self.root / "versions"
        self.settle_seconds = settle_seconds
        self.max_metadata_bytes = max_metadata_bytes
        self.allow_pickle = allow_pickle
        self.index = VersionIndex(include_prereleases)
        if scan:
            self.scan()

    # -- keeping the index current ----------------------------------------------------

    def inspect(
        self,
        name: str,
        *,
        previous: VersionState | None = None,
        renamed_in: bool = False,
        checkpoint: Callable[[], object] | None = None,
    ) -> VersionState:
        """Read one folder from disk (blocking I/O; safe to call from a worker thread).

        `previous` is reused when the folder has not changed since (no re-hashing). Raises
        only `RegistryUnavailable`, when `versions/` itself cannot be looked into.
        """
        return inspect_version(
            self.root,
            name,
            settle_seconds=self.settle_seconds,
            max_metadata_bytes=self.max_metadata_bytes,
            previous=previous,
            renamed_in=renamed_in,
            checkpoint=checkpoint,
            allow_pickle=self.allow_pickle,
        )

    def entries(self) -> list[str]:
        """Names in `versions/` worth inspecting (blocking; raises `RegistryUnavailable`)."""
        return [name for name in list_entries(self.root) if not is_ignored_name(name)]

    def refresh(self, name: str) -> list[Change]:
        return self.index.apply(self.inspect(name, previous=self.index.state(name)))

    def scan(self) -> list[Change]:
        """Full rescan, one folder at a time: what is on disk plus what the index remembers
        (so deletions are seen). An unreadable `versions/` leaves the index as it was."""
        with contextlib.suppress(OSError):
            self.versions_dir.mkdir(parents=True, exist_ok=True)
        try:
            names = {*self.entries(), *self.index.names()}
            return [change for name in sorted(names) for change in self.refresh(name)]
        except RegistryUnavailable as exc:
            log.warning("%s; keeping the versions already known", exc)
            return []

    # -- reading ------------------------------------------------------------------------

    def list_versions(self) -> list[str]:
        """Available versions, ascending by PEP 440 precedence."""
        return self.index.available()

    def get_latest_version(self) -> str | None:
        return self.index.latest()

    def resolve(self, version: str) -> VersionState:
        """The complete folder for `version` (any equivalent spelling), or `VersionNotFound`."""
        parsed = try_parse_version(version)
        state = self.index.lookup(parsed) if parsed is not None else None
        if state is None:
            raise VersionNotFound(f"version {version!r} not found")
        return state

    def get_metadata(self, version: str) -> dict[str, Any]:
        """Metadata of a complete version; never loads the model."""
        return dict(self.resolve(version).metadata)

    def model_path(self, version: str) -> Path:
        """Path of a complete version's model file, as inspected (inside the registry root)."""
        state = self.resolve(version)
        if state.model_path is None:
            raise CorruptVersion(f"version {version} has no model file")
        return state.model_path

    def get_model(self, version: str) -> Any:
        """Unpickle a version's model: exactly the bytes that were inspected (and checksummed).

        Pickles only: the skops and ONNX loaders belong to the serving core
        (`regwatch.serving.load_model_bytes`), which this package does not import.
        """
        state = self.resolve(version)
        if state.model_path is None or state.model_identity is None:
            raise CorruptVersion(f"version {version} has no model file")
        if state.format is not ModelFormat.PICKLE:
            raise RegistryError(
                f"version {version} holds {state.model_path.name}: load it with "
                "regwatch.serving.load_model_bytes (get_model only unpickles)"
            )
        identity = state.model_identity
        data = read_verified(state.model_path, state.sha256, identity.size, identity)
        return joblib.load(io.BytesIO(data))

    def get_latest_model(self) -> Any:
        latest = self.get_latest_version()
        if latest is None:
            raise VersionNotFound("the registry holds no complete version")
        return self.get_model(latest)

    # -- publishing ---------------------------------------------------------------------

    def save_model(self, version: str, model: Any, metadata: dict[str, Any] | None = None) -> str:
        """Pickle `model` as a new version; returns the version name."""
        meta = dict(metadata or {})
        n_features = getattr(model, "n_features_in_", None)
        if n_features is not None:
            meta.setdefault("n_features", int(n_features))
        return self._publish(version, ModelFormat.PICKLE, lambda path: joblib.dump(model, path), meta)

    def publish_file(
        self, model_file: str | os.PathLike[str], version: str, metadata: dict[str, Any] | None = None
    ) -> str:
        """Publish an existing joblib file as a new version (copied, never moved)."""
        source = Path(model_file)
        if not source.is_file():
            raise FileNotFoundError(f"model file {source} does not exist")
        return self._publish(
            version, ModelFormat.PICKLE, lambda path: shutil.copyfile(source, path), dict(metadata or {})
        )

    def publish_bytes(
        self, data: bytes, fmt: ModelFormat, version: str, metadata: dict[str, Any] | None = None
    ) -> str:
        """Publish a serialised model (e.g. converted to skops or ONNX) under `fmt`'s file name."""
        return self._publish(version, fmt, lambda path: path.write_bytes(data), dict(metadata or {}))

    def _publish(
        self, version: str, fmt: ModelFormat, write_model: Callable[[Path], Any], meta: dict[str, Any]
    ) -> str:
        parsed = parse_version(version)
        if fmt.runs_code and not self.allow_pickle:
            raise RegistryError(
                f"this registry refuses pickles (REGWATCH_ALLOW_PICKLE=false): publish version {version} "
                "as skops or onnx"
            )
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        if self.index.lookup(parsed) is not None or (self.versions_dir / version).exists():
            raise VersionExists(f"version {version} already exists; versions are immutable")
        temp = self.versions_dir / (
            f"{TEMP_PREFIX}{version}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        )
        temp.mkdir()
        try:
            model_path = temp / fmt.value
            write_model(model_path)
            with model_path.open("rb+") as fh:
                os.fsync(fh.fileno())
            meta["sha256"], _ = sha256_of_regular(model_path)
            meta.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
            _write_file(
                temp / METADATA_FILE, json.dumps(meta, indent=2, default=str, allow_nan=False).encode()
            )
            _fsync_dir(temp)
            try:
                os.rename(temp, self.versions_dir / version)
            except OSError as exc:
                raise VersionExists(f"version {version} appeared while publishing: {exc}") from None
            _fsync_dir(self.versions_dir)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        self.refresh(version)
        self.update_latest_mirror(self.get_latest_version())
        return version

    # -- housekeeping -------------------------------------------------------------------

    def update_latest_mirror(self, latest: str | None) -> None:
        """Point `latest` at version `latest`, atomically (a symlink swap); blocking I/O."""
        link = self.root / "latest"
        if latest is None:
            if link.is_symlink():
                link.unlink()
            return
        target = Path("versions") / latest
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        staging = self.root / f".latest-{uuid.uuid4().hex[:8]}"
        staging.symlink_to(target, target_is_directory=True)
        if link.is_dir() and not link.is_symlink():
            # An older layout kept a real copy here: move it aside, then swap.
            old = self.root / f".latest-old-{uuid.uuid4().hex[:8]}"
            link.rename(old)
            os.replace(staging, link)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, link)

    def remove_stale_temp_folders(self, max_age: float = STALE_TEMP_SECONDS) -> list[str]:
        """Delete temp folders left by a crashed publish.

        A folder from a dead process on this host goes at once; one from elsewhere (another
        container) only once it is older than `max_age`, since its writer may still be busy.
        """
        removed = []
        host = socket.gethostname()
        for name in list_entries(self.root):
            if not name.startswith(TEMP_PREFIX):
                continue
            path = self.versions_dir / name
            try:
                *_, owner_host, pid, _tag = name.rsplit("-", 3)
                dead_here = owner_host == host and not _pid_alive(int(pid))
            except ValueError:
                dead_here = False
            try:
                too_old = time.time() - path.lstat().st_mtime > max_age
            except OSError:
                continue
            if dead_here or too_old:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
        return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["ModelRegistry", "Status"]
