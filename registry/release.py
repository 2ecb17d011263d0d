"""Release control for one model, kept on the volume next to its `versions/`.

`release.json` says which versions take default traffic (follow latest, or a pinned
stable), an optional canary share, an optional shadow, and named aliases. Every change is
written atomically (temp file, fsync, rename) and appended to `release-history.jsonl`; a
writer holds `locked(model_dir)` around its read-modify-write. So every server watching
the volume follows the same state, and it survives restarts. A file that does not parse
(a bad hand edit) is reported and ignored: it is never half-applied.

The transitions are pure functions of the current state and refuse only what the state
alone shows; whether a named version is servable is the caller's check (the commands
that change the state, and how a change is written under the lock: `release_plans.py`).

`serving` in `promote`/`rollback` is the version that took default traffic just before:
the pinned stable, or, while following latest, the latest version on the volume at that
moment. It becomes `previous` (rollback's target) and the history's "from".
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import RegistryError
from .files import read_regular
from .layout import RELEASE_FILE
from .versions import printable

HISTORY_FILE = "release-history.jsonl"
LOCK_FILE = ".release.lock"
MAX_RELEASE_BYTES = 64 * 1024
ALIAS_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}")
BUCKETS = 10_000  # canary shares are resolved to 0.01 %


class ReleaseError(RegistryError, ValueError):
    """A release command or a release file that cannot be applied; the message says why."""


@dataclass(frozen=True)
class Canary:
    version: str
    percent: float


@dataclass(frozen=True)
class Release:
    """Who takes default traffic. `stable` None means: follow latest."""

    stable: str | None = None
    previous: str | None = None  # the stable before the last promote: rollback's target
    canary: Canary | None = None
    shadow: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)

    # -- transitions -------------------------------------------------------------------

    def promote(self, version: str, serving: str | None) -> "Release":
        """Pin default traffic to `version`; ends a canary. `serving` is what took default
        traffic until now; promoting that very version keeps the rollback target."""
        previous = self.previous if version == serving else serving
        return replace(self, stable=version, previous=previous, canary=None)

    def rollback(self, serving: str | None) -> "Release":
        if self.previous is None:
            raise ReleaseError("nothing to roll back to: no version was stable before the last promote")
        return replace(self, stable=self.previous, previous=serving, canary=None)

    def follow_latest(self) -> "Release":
        return replace(self, stable=None, canary=None)

    def with_canary(self, version: str, percent: float) -> "Release":
        if not 0 < percent <= 100:
            raise ReleaseError(f"canary percent must be in (0, 100], not {percent}")
        return replace(self, canary=Canary(version, percent))

    def without_canary(self) -> "Release":
        return replace(self, canary=None)

    def with_shadow(self, version: str | None) -> "Release":
        return replace(self, shadow=version)

    def with_alias(self, name: str, version: str) -> "Release":
        if not ALIAS_RE.fullmatch(name):
            raise ReleaseError(f"alias {name!r} must match {ALIAS_RE.pattern}")
        return replace(self, aliases={**self.aliases, name: version})

    def without_alias(self, name: str) -> "Release":
        if name not in self.aliases:
            raise ReleaseError(f"no alias {name!r}")
        return replace(self, aliases={k: v for k, v in self.aliases.items() if k != name})

    # -- what it names -------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """`ref` as a version: `@name` through the aliases, anything else as it is."""
        if not ref.startswith("@"):
            return ref
        try:
            return self.aliases[ref[1:]]
        except KeyError:
            raise ReleaseError(f"no alias {ref[1:]!r}") from None

    def versions(self) -> set[str]:
        """Every version this state routes traffic to (each must be loaded before it does)."""
        named = {self.stable, self.shadow, self.canary.version if self.canary else None}
        return {v for v in named if v is not None}

    def describe(self, latest: str | None) -> str:
        """The state for a terminal, one field a line; `latest` is what following latest
        serves now. Values may come from a hand edit, so they are escaped for printing."""

        def show(value: str | None) -> str:
            return "-" if value is None else printable(value)

        stable = f"follows latest ({show(latest)})" if self.stable is None else show(self.stable)
        canary = f"{show(self.canary.version)} at {self.canary.percent:g}%" if self.canary else "-"
        aliases = ", ".join(f"@{printable(k)} -> {printable(v)}" for k, v in sorted(self.aliases.items()))
        rows = {
            "stable": stable,
            "previous": show(self.previous),
            "canary": canary,
            "shadow": show(self.shadow),
            "aliases": aliases or "-",
        }
        return "\n".join(f"{key:<9} {value}" for key, value in rows.items())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = "follow-latest" if self.stable is None else "pinned"
        data["aliases"] = dict(self.aliases)
        return data

    @classmethod
    def from_json(cls, data: Any) -> "Release":
        """Parse a release file's content strictly: anything odd is refused as a whole."""
        if not isinstance(data, dict):
            raise ReleaseError("it must hold a JSON object")
        known = {"mode", "stable", "previous", "canary", "shadow", "aliases"}
        if unknown := sorted(set(data) - known):
            raise ReleaseError(f"unknown keys: {', '.join(unknown)}")
        for key in ("stable", "previous", "shadow"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ReleaseError(f"{key} must be a version string or null")
        canary = data.get("canary")
        if canary is not None:
            if not (isinstance(canary, dict) and set(canary) == {"version", "percent"}):
                raise ReleaseError("canary must be {version, percent} or null")
            percent = canary["percent"]
            if not isinstance(canary["version"], str) or isinstance(percent, bool):
                raise ReleaseError("canary must name a version and a percent")
            if not isinstance(percent, int | float) or not 0 < percent <= 100:
                raise ReleaseError("canary percent must be in (0, 100]")
            canary = Canary(canary["version"], float(percent))
        aliases = data.get("aliases") or {}
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and ALIAS_RE.fullmatch(k) and isinstance(v, str) for k, v in aliases.items()
        ):
            raise ReleaseError("aliases must map names to version strings")
        return cls(data.get("stable"), data.get("previous"), canary, data.get("shadow"), aliases)


def routing_bucket(key: str) -> int:
    """A routing key's fixed place in [0, BUCKETS): a key is in the canary when its bucket is
    below the canary's share. The same key always lands on the same side while the share is
    unchanged, and raising the share only moves keys from stable to canary."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_canary(bucket: int, percent: float) -> bool:
    return bucket < round(percent * BUCKETS / 100)


# -- the files ---------------------------------------------------------------------------


def read_release(model_dir: Path) -> Release:
    """The model's release state; the default state when there is no file.

    Raises `ReleaseError` naming the file and why it cannot be used (the caller keeps
    what it had; the file is left for whoever edited it to fix)."""
    path = model_dir / RELEASE_FILE
    if not os.path.lexists(path):
        return Release()
    try:
        raw, _ = read_regular(path, MAX_RELEASE_BYTES)
        return Release.from_json(json.loads(raw))
    except (RegistryError, ValueError, RecursionError) as exc:
        raise ReleaseError(f"{path} cannot be used: {exc}") from None


def read_history(model_dir: Path) -> list[dict[str, Any]]:
    """The audit trail, oldest first (lines that do not parse, or nest deeper than the
    parser goes, are skipped)."""
    try:
        raw, _ = read_regular(model_dir / HISTORY_FILE, 64 * 1024 * 1024)
    except RegistryError:
        return []
    entries = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


@contextmanager
def locked(model_dir: Path) -> Iterator[None]:
    """Serialise read-modify-write of the release state between processes on this host."""
    model_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(model_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_release(
    model_dir: Path,
    state: Release,
    *,
    actor: str,
    action: str,
    before: str | None,
    after: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Replace the state atomically, then append the change to the history (`details`, such
    as a canary's percent or an alias's name, are kept in the entry beside the fixed fields,
    never in place of one)."""
    body = json.dumps(state.to_json(), indent=2).encode() + b"\n"
    temp = model_dir / f".{RELEASE_FILE}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()  # a leftover of a crashed writer of this pid, or anything planted there
    # O_EXCL | O_NOFOLLOW: never write through a link someone placed at the temp name.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, model_dir / RELEASE_FILE)
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "actor": actor,
        "action": action,
        "from": before,
        "to": after,
    }
    entry |= {key: value for key, value in (details or {}).items() if key not in entry}
    fd = os.open(model_dir / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, json.dumps(entry).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    dir_fd = os.open(model_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
