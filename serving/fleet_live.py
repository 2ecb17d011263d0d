"""A `LiveModel` in a fleet (cluster mode): it swaps when the fleet says so.

Where a process alone would swap (`_offer`), a replica holds the model and tells the fleet
through its `Seat` that it wants that version, and the canary its release state names; it
swaps when the fleet answers with a version (`_fleet_changed`), which happens on every
replica at once, and the canary takes its share only once the fleet's target names it. It
also loads and holds the fleet's versions when they are not the ones it would pick (a
replica that starts, or was left behind, catches up; a canary stopped on the volume keeps
answering until the fleet switches), and reports every loaded version after each
reconcile, so the fleet knows what it can answer with.
"""

import logging
from typing import Any

from regwatch.fleet import Canary, ModelStatus
from regwatch.registry import VersionNotFound

from .cluster import Seat
from .errors import NoModelServing
from .live import LiveModel
from .loading import LoadedModel
from .roles import Wants

log = logging.getLogger("regwatch.live")


class FleetLiveModel(LiveModel):
    def __init__(self, *args: Any, seat: Seat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seat = seat
        self._fleet = self._held.slot("fleet")  # the version wanted and the fleet's versions
        self._wanted: str | None = None  # the version this replica would serve alone
        seat.listener = self._fleet_changed
        seat.live = self

    def answering(self, version: str) -> LoadedModel:
        """The model of the version the fleet's gate let a request through with (the one
        serving, unless the gate moved on and the swap is its very next step)."""
        serving = self.serving
        if serving is not None and serving.version == version:
            return serving
        found = self._held.holding(version)
        if found is None:
            raise NoModelServing(f"version {version} is not loaded here")
        return found

    def reconcile(self, fresh: LoadedModel | None = None) -> None:
        target = self._seat.target
        if fresh is not None and target is not None and fresh.version in target.versions:
            self._fleet[fresh.version] = fresh
        super().reconcile(fresh)

    def _offer(self, ready: LoadedModel) -> None:
        serving = self.serving
        if ready is not serving:
            if serving is not None and serving.version == ready.version:
                self._swap(ready)  # new files of the version the fleet answers with
            else:
                self._fleet[ready.version] = ready
        if self._wanted != ready.version:
            self._wanted = ready.version
            if ready is not self.serving:
                log.info("%s loaded and warmed; the fleet switches once every replica is", ready.version)

    def _schedule(self, wants: Wants) -> None:
        self._keep_fleet_versions(wants)
        super()._schedule(wants)
        self._seat.want(self._wanted, self._wanted_canary())
        self._seat.set_loaded(self._held.versions())

    def _wanted_canary(self) -> Canary | None:
        """The canary the release state names, by its folder's name (None: none, or it is
        not on the volume)."""
        named = self.release.canary
        if named is None:
            return None
        if self.canary is not None:
            return Canary(version=self.canary.model.version, percent=self.canary.percent)
        try:
            version = self.registry.resolve(named.version).name
        except VersionNotFound:
            return None
        return Canary(version=version, percent=named.percent)

    def _fleet_changed(self, status: ModelStatus) -> None:
        """The fleet's view of this model changed: swap to its answer at once (before any
        request passes the gate with it), then reconcile to load or let go of the rest."""
        answer = status.answer
        if answer is not None and (self.serving is None or self.serving.version != answer):
            loaded = self._held.holding(answer)
            if loaded is not None:
                self._swap(loaded)
        self.changed()

    def _keep_fleet_versions(self, wants: Wants) -> None:
        """Hold the fleet's versions, loading those not loaded here; let go of held models
        the fleet no longer needs from this replica."""
        target = self._seat.target
        needed = target.versions if target is not None else frozenset()
        for version in [version for version in self._fleet if version not in {self._wanted, *needed}]:
            del self._fleet[version]
        for version in needed:
            state = self.registry.index.state(version)
            if state is None:
                continue
            ready = self._held.ready(state)
            if ready is not None:
                self._fleet[version] = ready  # whatever slot has it now may let go of it
            else:
                wants.queue(state)
