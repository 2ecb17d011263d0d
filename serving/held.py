"""Which loaded models one model keeps in memory, and why; and which of its loads failed.

Models alive at once: the one serving, the previous one (an instant rollback), the pinned
LRU (`pinned_slots` models for requests that pin a version), the versions the release state
keeps, and any named slot a caller adds (in a fleet: what the replica would serve and the
fleet's versions). Keeping them in one place makes "is this folder's current files loaded?"
one lookup (`ready`) and "let go of what the disk no longer has" one rule (`forget_stale`).
A model is current while the index shows the files it was loaded from (same fingerprint).

A failed load is remembered for the files it read (version + fingerprint), by the same
rule: no retry loop, but any change to the folder forgets it, so the next reconcile retries.

Everything here is synchronous: a swap is slot updates, never an await.
"""

from collections import OrderedDict
from collections.abc import Iterable

from regwatch.registry import VersionIndex, VersionState

from .loading import LoadedModel


class Held:
    def __init__(self, index: VersionIndex, *, pinned_slots: int, keep_previous: bool) -> None:
        self._index = index
        self._pinned_slots = pinned_slots
        self._keep_previous = keep_previous
        self.serving: LoadedModel | None = None
        self.previous: LoadedModel | None = None
        self._pinned: OrderedDict[str, LoadedModel] = OrderedDict()  # least recently used first
        self._kept: dict[str, LoadedModel] = {}  # by the release state, set anew by each reconcile
        self._slots: dict[str, dict[str, LoadedModel]] = {}
        self._failed: dict[str, tuple[tuple[int, ...], str]] = {}  # version -> its files, why

    @property
    def failures(self) -> dict[str, str]:
        """Why each version's current files failed to load."""
        return {name: reason for name, (_, reason) in self._failed.items()}

    def failure(self, state: VersionState) -> str | None:
        """Why this folder's current files failed to load, if they did."""
        failed = self._failed.get(state.name)
        return failed[1] if failed is not None and failed[0] == state.fingerprint else None

    def failed(self, state: VersionState, reason: str) -> None:
        """These files failed to load: not tried again until the folder changes."""
        self._failed[state.name] = (state.fingerprint, reason)

    def slot(self, why: str) -> dict[str, LoadedModel]:
        """A named slot its caller fills, by version: its models count as loaded, are let go
        of once their files change, and leave it when they start serving."""
        return self._slots.setdefault(why, {})

    def ready(self, state: VersionState, fresh: LoadedModel | None = None) -> LoadedModel | None:
        """A loaded model of exactly this folder's current files, if there is one (`fresh`: a
        load that just finished, in no slot yet)."""
        name = state.name
        for loaded in (
            fresh,
            self.serving,
            self.previous,
            self._pinned.get(name),
            self._kept.get(name),
            *(slot.get(name) for slot in self._slots.values()),
        ):
            if loaded is not None and loaded.version == name and loaded.fingerprint == state.fingerprint:
                return loaded
        return None

    def holding(self, version: str) -> LoadedModel | None:
        """A loaded model of `version` in any slot, whatever its files: the current files
        first, else an older load that can still answer (the named slots looked at first)."""
        found = [
            loaded
            for loaded in (
                *(slot.get(version) for slot in self._slots.values()),
                self.serving,
                self.previous,
                self._pinned.get(version),
                self._kept.get(version),
            )
            if loaded is not None and loaded.version == version
        ]
        return next((loaded for loaded in found if self._is_current(loaded)), found[0] if found else None)

    def versions(self) -> set[str]:
        """Every version loaded here, whichever slot keeps it."""
        return {
            loaded.version
            for loaded in (
                self.serving,
                self.previous,
                *self._pinned.values(),
                *self._kept.values(),
                *(loaded for slot in self._slots.values() for loaded in slot.values()),
            )
            if loaded is not None
        }

    def pin(self, loaded: LoadedModel) -> None:
        """Keep a model a pinned request loaded, evicting the least recently used beyond
        `pinned_slots` (never the serving or the previous model: they are not in the LRU)."""
        self._pinned[loaded.version] = loaded
        self._pinned.move_to_end(loaded.version)
        while len(self._pinned) > self._pinned_slots:
            self._pinned.popitem(last=False)

    def used(self, version: str) -> None:
        """A pinned request was answered with `version`: it is the last to be evicted."""
        if version in self._pinned:
            self._pinned.move_to_end(version)

    def keep(self, models: Iterable[LoadedModel]) -> None:
        """What the release state keeps loaded now (canary, shadow, latest), instead of before."""
        self._kept = {loaded.version: loaded for loaded in models}

    def swap(self, loaded: LoadedModel) -> LoadedModel | None:
        """Serve `loaded`, taking it out of the slot it waited in; the model it replaces
        becomes the previous one (if enabled, another version and its files still current).
        Returns the replaced model."""
        old = self.serving
        self.serving = loaded
        if self.previous is loaded:
            self.previous = None
        for slot in (self._pinned, *self._slots.values()):
            if slot.get(loaded.version) is loaded:
                del slot[loaded.version]
        if (
            self._keep_previous
            and old is not None
            and old.version != loaded.version
            and self._is_current(old)
        ):
            self.previous = old
        return old

    def forget_stale(self) -> None:
        """Let go of kept models and failures whose files changed or went (what serves keeps
        serving)."""
        for name, (fingerprint, _) in list(self._failed.items()):
            state = self._index.state(name)
            if state is None or state.fingerprint != fingerprint:
                del self._failed[name]
        if self.previous is not None and not self._is_current(self.previous):
            self.previous = None
        for slot in (self._pinned, *self._slots.values()):
            for version, loaded in list(slot.items()):
                if not self._is_current(loaded):
                    del slot[version]

    def _is_current(self, loaded: LoadedModel) -> bool:
        state = self._index.state(loaded.version)
        return state is not None and state.fingerprint == loaded.fingerprint
