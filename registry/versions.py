"""Version names: parsing, hiding rules and PEP 440 precedence.

A folder name is a version when `packaging.version.Version` accepts it; two names that
normalise to the same `Version` (`1.0` and `1.0.0`) are the same version, so both are in
conflict. Pure functions only: no file system here.
"""

from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

from .errors import InvalidVersionName

MAX_NAME_LENGTH = 128
_TEMP_SUFFIXES = ("~", ".swp", ".swx", ".tmp", ".part")


def is_ignored_name(name: str) -> bool:
    """Hidden entries (publish temp folders, editor files) are invisible, not rejected.

    Anything else that fails to parse (`foo`, `_staging`) is a mistake worth reporting.
    """
    return name.startswith(".") or name.endswith(_TEMP_SUFFIXES)


def parse_version(name: str) -> Version:
    """Parse a folder name as a version, or raise `InvalidVersionName` saying why not."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidVersionName(f"version name must be 1-{MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name or "\x00" in name or name != name.strip():
        raise InvalidVersionName(f"{name!r} is not a PEP 440 version")
    try:
        return Version(name)
    except InvalidVersion:
        raise InvalidVersionName(f"{name!r} is not a PEP 440 version") from None


def printable(name: str) -> str:
    """`name` safe to print on one line: control characters and other unprintables escaped.

    Folder names come from the volume, so a name may hold a newline or a terminal escape.
    Every valid version name is printable already and comes back unchanged.
    """
    return name if name.isprintable() else name.encode("unicode_escape").decode("ascii")


def try_parse_version(name: str) -> Version | None:
    """`parse_version` for callers that only need a yes or no."""
    try:
        return parse_version(name)
    except InvalidVersionName:
        return None


def is_stable(version: Version) -> bool:
    """Final releases (post-releases included) are stable; pre- and dev releases are not."""
    return not (version.is_prerelease or version.is_devrelease)


def pick_latest(versions: Iterable[Version], include_prereleases: bool = False) -> Version | None:
    """The highest version, preferring stable ones unless pre-releases are opted in.

    With no stable release at all, the highest pre-release is latest: a registry that only
    holds `2.0.0rc1` still serves something.
    """
    candidates = list(versions)
    if not candidates:
        return None
    if not include_prereleases:
        stable = [v for v in candidates if is_stable(v)]
        candidates = stable or candidates
    return max(candidates)
