"""The live model: which loaded model answers `/predict`, and how that changes.

What serves is the best version that is ready. `reconcile` walks the candidates (latest
first, then down) and swaps in the first one whose current files are loaded; the better
candidates that have not failed form the window that `Loads` keeps loading (at most
`concurrency`, best first; a load that leaves the window is cancelled). So a load that
hangs holds one slot until its timeout and blocks nothing else, a latest still loading
`cold_start_grace` seconds after start is preceded by the next version down that loads (a
restart comes up on latest, yet never stays down behind a slow or hanging file), and a swap
never awaits anything: a finished load is
swapped in only if the index still shows the files it read. While the serving version's
own folder is reloaded (it changed), its old contents keep serving.

Pinned requests (`get`) use what is loaded (serving, previous, or the pinned LRU of
`pinned_slots` models: pinned loads never evict the serving or the previous model), join a
load under way (concurrent requests share one load), or queue for the pinned lane (one
load at a time, at most one start per `pinned_interval` seconds: cycling through more
pinned versions than there are slots reloads at a bounded rate and never takes a slot from
a swap to latest). A caller waits at most `pinned_wait` seconds (`LoadPending`); the load
goes on.

A failed load is remembered for the files it read (version + fingerprint): no retry loop,
but any change to the folder retries. Models alive at once: serving, previous, the pinned
slots and the loads under way.

In cluster mode (a `Seat`), the one thing that changes is the swap: where `reconcile` would
swap, it holds the model and tells the fleet it wants that version; it swaps when the
fleet answers with a version (`_fleet_changed`), which happens on every replica at once. It
also loads and holds the fleet's version when that is not the one it would pick (a replica
that starts, or was left behind, catches up), and reports every loaded version after each
change, so the fleet knows what it can answer with.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import anyio

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelRegistry, VersionState

from .errors import LoadCancelled, LoadError, LoadPending, NoModelServing
from .loading import LoadedModel
from .loads import Load, Loads, Outcome
from .policy import LoadPolicy
from .probe import start_zygote

if TYPE_CHECKING:  # cluster mode only: a process without a fleet never imports it
    from regwatch.fleet import ModelStatus

    from .cluster import Seat

log = logging.getLogger("regwatch.live")


class LiveModel:
    def __init__(
        self,
        registry: ModelRegistry,
        bus: EventBus,
        *,
        model: str,
        policy: LoadPolicy | None = None,
        concurrency: int = 2,
        limiter: anyio.CapacityLimiter | None = None,
        pinned_slots: int = 2,
        pinned_wait: float = 10.0,
        cold_start_grace: float = 2.0,
        pinned_interval: float = 1.0,
        keep_previous: bool = True,
        seat: "Seat | None" = None,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.model = model
        self.serving: LoadedModel | None = None
        self._previous: LoadedModel | None = None
        self._pinned: OrderedDict[str, LoadedModel] = OrderedDict()
        self._pinned_slots = pinned_slots
        self._pinned_wait = pinned_wait
        self._failed: dict[str, tuple[tuple[int, ...], str]] = {}
        self._loads = Loads(
            registry.index,
            policy or LoadPolicy(),
            self._finished,
            concurrency=concurrency,
            limiter=limiter,
            pinned_interval=pinned_interval,
        )
        self._keep_previous = keep_previous
        self._dirty = asyncio.Event()
        self._cold_start_grace = cold_start_grace
        self._started = time.monotonic()
        # Cluster mode: the versions wanted and the fleet's, loaded but not (yet) serving.
        self._seat = seat
        self._held: dict[str, LoadedModel] = {}
        self._wanted: str | None = None
        if seat is not None:
            seat.listener = self._fleet_changed

    @property
    def waiting(self) -> bool:
        """Nothing serves yet, but a version that has not failed may still load."""
        if self.serving is not None:
            return False
        index = self.registry.index
        return any(
            (state := index.state(name)) is not None and self._failure(state) is None
            for name in index.candidates()
        )

    @property
    def failures(self) -> dict[str, str]:
        return {name: reason for name, (_, reason) in self._failed.items()}

    # -- pinned requests -----------------------------------------------------------------

    async def get(self, version: str) -> LoadedModel:
        """A loaded model for a pinned version: VersionNotFound, LoadError or LoadPending."""
        with anyio.move_on_after(self._pinned_wait):
            while True:
                state = self.registry.resolve(version)
                ready = self._ready(state)
                if ready is not None:
                    if ready.version in self._pinned:
                        self._pinned.move_to_end(ready.version)
                    return ready
                if (reason := self._failure(state)) is not None:
                    raise LoadError(reason)
                outcome = await asyncio.shield(self._loads.for_pinned(state).outcome)
                if isinstance(outcome, LoadedModel):
                    return outcome
                if not isinstance(outcome, LoadCancelled):
                    raise outcome
                # Cancelled: the folder changed while it loaded; look it up again.
        raise LoadPending(f"version {version!r} is still loading")

    def loaded(self, version: str) -> LoadedModel | None:
        """The model of `version`'s current files if it is loaded now (serving, previous or
        pinned); starts no load. VersionNotFound for a version the index does not hold."""
        return self._ready(self.registry.resolve(version))

    def answering(self, version: str) -> LoadedModel:
        """Cluster mode: the model of the version the fleet's gate let a request through with
        (the one serving, unless the gate moved on and the swap is its very next step)."""
        serving = self.serving
        if serving is not None and serving.version == version:
            return serving
        found = self._holding(version)
        if found is None:
            raise NoModelServing(f"version {version} is not loaded here")
        return found

    # -- following the registry ------------------------------------------------------------

    def changed(self) -> None:
        """The index changed: reconcile soon (bursts coalesce into one reconcile)."""
        self._dirty.set()

    async def run(self) -> None:
        """Reconcile once now, then after every change of the index."""
        try:
            await anyio.to_thread.run_sync(start_zygote)
            self._started = time.monotonic()
            self._dirty.set()
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                self.reconcile()
        finally:
            self._loads.close()

    def reconcile(self, fresh: LoadedModel | None = None) -> None:
        """Serve the best ready version (`fresh`: a load that just finished) and have the
        better ones loaded; awaits nothing, so what it checks is what it swaps."""
        index = self.registry.index
        self._forget_stale()
        window: list[VersionState] = []
        if self._seat is not None and fresh is not None and fresh.version == self._seat.active:
            self._held[fresh.version] = fresh
        for name in index.candidates():
            state = index.state(name)
            if state is None:
                continue
            ready = self._ready(state, fresh)
            if ready is not None:
                if not self._waits_for_better(window):
                    self._offer(ready)
                break
            if len(window) < self._loads.concurrency and self._failure(state) is None:
                window.append(state)
            if self.serving is not None and self.serving.version == name:
                break  # its folder changed: the old contents serve until the new ones load
        else:
            if not window and self.serving is not None and index.state(self.serving.version) is None:
                log.warning(
                    "%s: no servable version left; still serving %s", self.model, self.serving.version
                )
        if self._seat is not None:
            self._keep_fleet_version(window)
        self._loads.schedule(window)
        if self._seat is not None:
            self._report()

    def _offer(self, ready: LoadedModel) -> None:
        """Serve the best ready model: at once alone; in a fleet, once the fleet says so."""
        serving = self.serving
        if self._seat is None:
            if ready is not serving:
                self._swap(ready)
            return
        if ready is not serving:
            if serving is not None and serving.version == ready.version:
                self._swap(ready)  # new files of the version the fleet answers with
            else:
                self._held[ready.version] = ready
        if self._wanted != ready.version:
            self._wanted = ready.version
            self._seat.want(ready.version)
            if ready is not self.serving:
                log.info("%s loaded and warmed; the fleet switches once every replica is", ready.version)

    # -- cluster mode ----------------------------------------------------------------------

    def _fleet_changed(self, status: "ModelStatus") -> None:
        """The fleet's view of this model changed: swap to its answer at once (before any
        request passes the gate with it), then reconcile to load or let go of the rest."""
        answer = status.answer
        if answer is not None and (self.serving is None or self.serving.version != answer):
            loaded = self._holding(answer)
            if loaded is not None:
                self._swap(loaded)
        self._dirty.set()

    def _holding(self, version: str) -> LoadedModel | None:
        """A loaded model of `version`, whichever slot holds it (current files first)."""
        found = [
            loaded
            for loaded in (self._held.get(version), self.serving, self._previous, self._pinned.get(version))
            if loaded is not None and loaded.version == version
        ]
        return next((loaded for loaded in found if self._is_current(loaded)), found[0] if found else None)

    def _keep_fleet_version(self, window: list[VersionState]) -> None:
        """Load the fleet's version when it is not loaded here; let go of held models the
        fleet no longer needs from this replica."""
        assert self._seat is not None
        active = self._seat.active
        keep = {self._wanted, active}
        for version in [version for version in self._held if version not in keep]:
            del self._held[version]
        state = self.registry.index.state(active) if active is not None else None
        if (
            state is not None
            and self._ready(state) is None
            and self._failure(state) is None
            and all(queued.name != state.name for queued in window)
        ):
            window.append(state)

    def _report(self) -> None:
        assert self._seat is not None
        held = (self.serving, self._previous, *self._pinned.values(), *self._held.values())
        self._seat.set_loaded({loaded.version for loaded in held if loaded is not None})

    def _waits_for_better(self, loading: list[VersionState]) -> bool:
        """At a cold start, is a lower version that loaded first held back for a moment,
        while better ones still load? (Then reconcile again once the grace is over.)"""
        if self.serving is not None or not loading:
            return False
        left = self._cold_start_grace - (time.monotonic() - self._started)
        if left <= 0:
            return False
        asyncio.get_running_loop().call_later(left, self._dirty.set)
        return True

    def _ready(self, state: VersionState, fresh: LoadedModel | None = None) -> LoadedModel | None:
        """A loaded model of exactly this folder's current files, if there is one."""
        for loaded in (
            fresh,
            self.serving,
            self._previous,
            self._pinned.get(state.name),
            self._held.get(state.name),
        ):
            if (
                loaded is not None
                and loaded.version == state.name
                and loaded.fingerprint == state.fingerprint
            ):
                return loaded
        return None

    def _failure(self, state: VersionState) -> str | None:
        failed = self._failed.get(state.name)
        return failed[1] if failed is not None and failed[0] == state.fingerprint else None

    def _is_current(self, loaded: LoadedModel) -> bool:
        state = self.registry.index.state(loaded.version)
        return state is not None and state.fingerprint == loaded.fingerprint

    def _forget_stale(self) -> None:
        """Drop what no longer matches the disk: failures and kept models of older files."""
        for name, (fingerprint, _) in list(self._failed.items()):
            state = self.registry.index.state(name)
            if state is None or state.fingerprint != fingerprint:
                del self._failed[name]
        if self._previous is not None and not self._is_current(self._previous):
            self._previous = None
        for name, loaded in list(self._held.items()):
            if not self._is_current(loaded):
                del self._held[name]
        for name, loaded in list(self._pinned.items()):
            if not self._is_current(loaded):
                del self._pinned[name]

    def _swap(self, loaded: LoadedModel) -> None:
        old = self.serving
        self.serving = loaded
        if self._pinned.get(loaded.version) is loaded:
            del self._pinned[loaded.version]
        if self._previous is loaded:
            self._previous = None
        if self._held.get(loaded.version) is loaded:
            del self._held[loaded.version]
        if (
            self._keep_previous
            and old is not None
            and old.version != loaded.version
            and self._is_current(old)
        ):
            self._previous = old
        log.info("%s: serving %s (was %s)", self.model, loaded.version, old.version if old else None)
        self.bus.publish(
            EventType.MODEL_LOADED,
            loaded.version,
            model=self.model,
            previous=old.version if old else None,
            load_ms=round(loaded.load_seconds * 1000, 3),
            probe_ms=round(loaded.probe_seconds * 1000, 3),
            warmup_ms=round(loaded.warmup_seconds * 1000, 3),
            warnings=list(loaded.warnings),
        )

    def _finished(self, load: Load, outcome: Outcome) -> None:
        """A load ended (not cancelled): remember a failure, or offer the model to serve."""
        state = load.state
        if isinstance(outcome, LoadError):
            self._failed[state.name] = (state.fingerprint, str(outcome))
            log.warning("%s: version %s failed to load: %s", self.model, state.name, outcome)
            self.bus.publish(EventType.MODEL_LOAD_FAILED, state.name, model=self.model, error=str(outcome))
            self.reconcile()
            return
        if load.pinned:
            self._pinned[state.name] = outcome
            self._pinned.move_to_end(state.name)
            while len(self._pinned) > self._pinned_slots:
                self._pinned.popitem(last=False)
        self.reconcile(fresh=outcome)
