"""The in-memory index of discovered versions, updated one folder at a time.

`apply` takes a fresh `VersionState` for one folder and returns what changed, as
`Change`s that map one to one onto the public event names. Only the affected version
group is looked at, so an update costs O(1) whatever the size of the registry.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from packaging.version import Version

from .folder import Status, VersionState
from .versions import is_ignored_name, pick_latest, printable


class ChangeKind(StrEnum):
    """What happened to a version; the values are the public event names."""

    ADDED = "version_added"
    UPDATED = "version_updated"
    REMOVED = "version_removed"
    REJECTED = "version_rejected"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    name: str
    reason: str = ""


class VersionIndex:
    """Every folder's last known state, plus which versions are available to serve.

    A version is *available* when its folder is complete and no other folder names the
    same version (`1.0` beside `1.0.0` makes both unavailable until one goes).
    """

    def __init__(self, include_prereleases: bool = False) -> None:
        self.include_prereleases = include_prereleases
        self._states: dict[str, VersionState] = {}
        self._groups: defaultdict[Version, set[str]] = defaultdict(set)
        self._available: dict[Version, str] = {}
        self._reported: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._conflicts: dict[str, str] = {}  # folder name -> why it is in conflict
        self._latest: Version | None = None
        self._latest_stale = False
        self._sorted: list[str] | None = None

    # -- reading ---------------------------------------------------------------------

    def state(self, name: str) -> VersionState | None:
        return self._states.get(name)

    def names(self) -> list[str]:
        """Every folder name the index knows about, available or not."""
        return list(self._states)

    def rejected(self) -> list[VersionState]:
        """Folders present but unusable (broken, or in conflict with another spelling), each
        with the reason, and with a name that is safe to print (it came off the volume)."""
        rejected = []
        for name, state in self._states.items():
            reason = self._conflicts.get(name) or (state.reason if state.status is Status.REJECTED else "")
            if reason:
                rejected.append(replace(state, name=printable(name), reason=reason))
        return rejected

    def available(self) -> list[str]:
        """Available version names in ascending precedence."""
        if self._sorted is None:
            self._sorted = [self._available[v] for v in sorted(self._available)]
        return list(self._sorted)

    def lookup(self, version: Version) -> VersionState | None:
        """The available folder for `version`, whatever spelling the caller used."""
        name = self._available.get(version)
        return self._states[name] if name is not None else None

    def latest(self) -> str | None:
        if self._latest_stale:
            self._latest = pick_latest(self._available, self.include_prereleases)
            self._latest_stale = False
        return self._available.get(self._latest) if self._latest is not None else None

    def candidates(self) -> Iterator[str]:
        """Available names in the order a server should try them: latest first, then down.

        Lazy: a caller that is happy with the latest never pays for the sorted list.
        """
        latest = self.latest()
        if latest is not None:
            yield latest
        for name in reversed(self.available()):
            if name != latest:
                yield name

    def __len__(self) -> int:
        return len(self._available)

    # -- updating --------------------------------------------------------------------

    def apply(self, state: VersionState) -> list[Change]:
        """Record `state` for its folder and return the changes it causes."""
        if is_ignored_name(state.name):
            return []
        previous = self._states.get(state.name)
        if state.status is Status.MISSING:
            self._states.pop(state.name, None)
            self._reported.pop(state.name, None)
        else:
            self._states[state.name] = state
        group = {v for v in (state.version, previous.version if previous else None) if v}
        for version in group:
            if state.status is Status.MISSING or version != state.version:
                self._groups[version].discard(state.name)
        if state.version is not None and state.status is not Status.MISSING:
            self._groups[state.version].add(state.name)
        changes = [c for v in group for c in self._regroup(v, state.name, previous)]
        if state.version is None and state.status is Status.REJECTED:
            changes += self._report(state.name, state.reason, state.fingerprint)
        return changes

    def _regroup(self, version: Version, touched: str, previous: VersionState | None) -> list[Change]:
        """Recompute availability of one version group after `touched` changed."""
        members = self._groups[version]
        if not members:
            del self._groups[version]
        was = self._available.get(version)
        now: str | None = None
        changes: list[Change] = []
        for name in (*members, touched):
            self._conflicts.pop(name, None)
        if len(members) == 1:
            (only,) = members
            if self._states[only].status is Status.COMPLETE:
                now = only
            elif self._states[only].status is Status.REJECTED:
                changes += self._report(only, self._states[only].reason, self._states[only].fingerprint)
        elif len(members) > 1:
            spelled = ", ".join(printable(name) for name in sorted(members))
            reason = f"conflict: folders {spelled} name the same version"
            for name in sorted(members):
                self._conflicts[name] = reason
                changes += self._report(name, reason, ())

        if was is not None and now is None:
            changes.insert(0, Change(ChangeKind.REMOVED, was))
        elif was is None and now is not None:
            self._reported.pop(now, None)
            changes.append(Change(ChangeKind.ADDED, now))
        elif was is not None and now == was and touched == now and previous is not None:
            if previous.fingerprint != self._states[now].fingerprint:
                changes.append(Change(ChangeKind.UPDATED, now))
        elif was is not None and now is not None and now != was:
            changes += [Change(ChangeKind.REMOVED, was), Change(ChangeKind.ADDED, now)]
        self._set_available(version, now)
        return changes

    def _set_available(self, version: Version, name: str | None) -> None:
        before = self._available.get(version)
        if before == name:
            return
        self._sorted = None
        if name is None:
            del self._available[version]
            if version == self._latest:
                self._latest_stale = True
            return
        self._available[version] = name
        if self._latest_stale:
            return
        if self._latest is None or pick_latest((self._latest, version), self.include_prereleases) == version:
            self._latest = version

    def _report(self, name: str, reason: str, fingerprint: tuple[int, ...]) -> list[Change]:
        """A rejection is reported once per distinct (reason, folder contents)."""
        key = (reason, fingerprint)
        if self._reported.get(name) == key:
            return []
        self._reported[name] = key
        return [Change(ChangeKind.REJECTED, name, reason)]
