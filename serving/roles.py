"""The release state's roles: which loaded model takes each, and what must load for it.

`LiveModel.reconcile` serves what the release state asks for; the roles it names (stable,
canary, shadow) are looked up, loaded and reported here, so the walk over candidates stays
about what answers default traffic. A canary and a shadow are loaded and kept (never
evicted) while named, and take their traffic only once loaded (`release_version_ready`);
while a stable is promoted the latest is kept loaded too, so promoting it is instant. Each
role that cannot be served is reported once per reason (`release_version_unavailable`).

One reconcile gathers what it wants in a `Wants` (the files to load, best first, and the
roles that cannot serve); `Roles` keeps, between reconciles, who takes the canary's share
and the shadow's comparisons and what was last reported. Like the reconcile that uses them,
neither awaits anything: what it checks is what it keeps.
"""

import logging

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelRegistry, VersionIndex, VersionNotFound, VersionState
from regwatch.registry.release import Release

from .held import Held
from .loading import LoadedModel
from .routing import Role, Split

log = logging.getLogger("regwatch.live")  # the live model's log: these lines are its


class Wants:
    """What one reconcile wants: the loaded models it may use (`fresh`: a load that just
    finished, in no slot yet), the files to load (`window`, best first) and, for each role
    that cannot serve, the version named and why not (`unavailable`)."""

    def __init__(self, registry: ModelRegistry, held: Held, fresh: LoadedModel | None) -> None:
        self._registry = registry
        self._held = held
        self._fresh = fresh
        self.window: list[VersionState] = []
        self.unavailable: dict[Role, tuple[str, str]] = {}

    def ready(self, state: VersionState) -> LoadedModel | None:
        """A loaded model of exactly this folder's current files, if there is one."""
        return self._held.ready(state, self._fresh)

    def want(self, role: Role | None, version: str) -> LoadedModel | None:
        """The loaded model of `version` (any spelling) when ready; else have it loaded, or
        note why it cannot be under its `role`."""
        try:
            state = self._registry.resolve(version)
        except VersionNotFound:
            why = "is not on the volume (or not complete)"
        else:
            if (ready := self.ready(state)) is not None:
                return ready
            if (reason := self.queue(state)) is None:
                return None
            why = f"failed to load: {reason}"
        if role is not None:
            self.unavailable[role] = (version, f"version {version} {why}")
        return None

    def queue(self, state: VersionState) -> str | None:
        """Have these files loaded (once in `window`) unless they failed to load: then why."""
        if (reason := self._held.failure(state)) is None and all(
            queued.name != state.name for queued in self.window
        ):
            self.window.append(state)
        return reason


class Roles:
    """Which loaded models take the canary's share and the shadow's comparisons now, and
    which roles were last reported as unable to serve."""

    def __init__(self, index: VersionIndex, held: Held, bus: EventBus, *, model: str) -> None:
        self._index = index
        self._held = held
        self._bus = bus
        self._model = model
        self.canary: Split | None = None  # a loaded canary: it takes its share
        self.shadow: LoadedModel | None = None  # a loaded shadow: it is compared
        self.unavailable: dict[Role, tuple[str, str]] = {}  # role -> the version named, why not

    def settle(self, release: Release, wants: Wants) -> None:
        """Load and keep what `release` names besides stable: the canary, the shadow and,
        while a stable is promoted, the latest (validated and ready: promoting it is
        instant); then say what changed about each role."""
        canary = wants.want(Role.CANARY, release.canary.version) if release.canary else None
        shadow = wants.want(Role.SHADOW, release.shadow) if release.shadow else None
        latest = self._index.latest()
        held = wants.want(None, latest) if release.stable and latest else None
        self._held.keep(loaded for loaded in (canary, shadow, held) if loaded)
        for role, now, before in (
            (Role.CANARY, canary, self.canary.model if self.canary else None),
            (Role.SHADOW, shadow, self.shadow),
        ):
            if now is not None and now is not before:
                log.info("%s: %s %s takes its traffic", self._model, role, now.version)
                self._bus.publish(EventType.RELEASE_VERSION_READY, now.version, model=self._model, role=role)
        self.canary = Split(canary, release.canary.percent) if canary and release.canary else None
        self.shadow = shadow
        self._report(wants.unavailable)

    def _report(self, unavailable: dict[Role, tuple[str, str]]) -> None:
        """Say once why each role the release state names cannot serve (until that changes)."""
        for role, (version, reason) in unavailable.items():
            if self.unavailable.get(role) != (version, reason):
                log.warning("%s: the release's %s cannot serve: %s", self._model, role, reason)
                self._bus.publish(
                    EventType.RELEASE_VERSION_UNAVAILABLE,
                    version,
                    model=self._model,
                    role=role,
                    reason=reason,
                )
        self.unavailable = unavailable
