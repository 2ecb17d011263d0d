"""The live model: which loaded model answers `/predict`, and how that changes.

What serves is the best version that is ready. `reconcile` walks the candidates (latest
first, then down) and swaps in the first one whose current files are loaded; the better
candidates that have not failed form the window that `Loads` keeps loading (at most
`concurrency`, best first; a load that leaves the window is cancelled). So a load that
hangs holds one slot until its timeout and blocks nothing else, a latest still loading
`cold_start_grace` seconds after start is preceded by the next version down that loads (a
restart comes up on latest, yet never stays down behind a slow or hanging file), and a swap
never awaits anything: a finished load is swapped in only if the index still shows the
files it read. While the serving version's own folder is reloaded (it changed), its old
contents keep serving. Which models stay loaded, and which files failed to load (not
retried until their folder changes), is `Held`'s (`held.py`): models alive at once are
those it keeps and the loads under way.

Pinned requests (`get`) use what is loaded (serving, previous, the pinned LRU: pinned
loads never evict the serving or the previous model), join a load under way (concurrent
requests share one load), or queue for the pinned lane (one load at a time, at most one
start per `pinned_interval` seconds: cycling through more pinned versions than there are
slots reloads at a bounded rate and never takes a slot from a swap to latest). A caller
waits at most `pinned_wait` seconds (`LoadPending`); the load goes on.

The release state in force (`follow`) changes only what `reconcile` aims for. Following
latest is the walk above. A promoted stable serves once loaded; new versions are still
loaded but take no default traffic; when the stable is gone or failed, what serves keeps
serving (nothing serves yet: the walk above). The roles it names (stable, canary, shadow:
what each needs loaded, which loaded model takes it, what is reported) are `Roles`'s
(`roles.py`).

A replica in a fleet is a `FleetLiveModel` (`fleet_live.py`): the same, except for what
`_offer` does with a ready version and what `_schedule` also keeps loaded.
"""

import asyncio
import logging
import time

import anyio

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelRegistry, VersionState
from regwatch.registry.release import Release

from .errors import LoadCancelled, LoadError, LoadPending
from .held import Held
from .loading import LoadedModel
from .loads import Load, Loads, Outcome
from .policy import LoadPolicy
from .probe import start_zygote
from .roles import Roles, Wants
from .routing import Role, Split

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
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.model = model
        self._held = Held(registry.index, pinned_slots=pinned_slots, keep_previous=keep_previous)
        self._pinned_wait = pinned_wait
        self._loads = Loads(
            registry.index,
            policy or LoadPolicy(),
            self._finished,
            concurrency=concurrency,
            limiter=limiter,
            pinned_interval=pinned_interval,
        )
        self._dirty = asyncio.Event()
        self._cold_start_grace = cold_start_grace
        self._started = time.monotonic()
        self.release = Release()  # the release state in force
        self._roles = Roles(registry.index, self._held, bus, model=model)
        self._running = False

    @property
    def serving(self) -> LoadedModel | None:
        """The model that answers default traffic (None: nothing loaded yet)."""
        return self._held.serving

    @property
    def canary(self) -> Split | None:
        """The loaded canary and its share of default traffic (None: none takes traffic)."""
        return self._roles.canary

    @property
    def shadow(self) -> LoadedModel | None:
        """The loaded shadow that default traffic is compared with (None: none)."""
        return self._roles.shadow

    @property
    def unavailable(self) -> dict[Role, tuple[str, str]]:
        """Each role the release state names that cannot serve: the version named, why not."""
        return self._roles.unavailable

    @property
    def waiting(self) -> bool:
        """Nothing serves yet, but a version that has not failed may still load."""
        if self.serving is not None:
            return False
        index = self.registry.index
        return any(
            (state := index.state(name)) is not None and self._held.failure(state) is None
            for name in index.candidates()
        )

    @property
    def failures(self) -> dict[str, str]:
        return self._held.failures

    # -- pinned requests -----------------------------------------------------------------

    async def get(self, version: str) -> LoadedModel:
        """A loaded model for a pinned version: VersionNotFound, LoadError or LoadPending."""
        with anyio.move_on_after(self._pinned_wait):
            while True:
                state = self.registry.resolve(version)
                ready = self._held.ready(state)
                if ready is not None:
                    self._held.used(ready.version)
                    return ready
                if (reason := self._held.failure(state)) is not None:
                    raise LoadError(reason)
                outcome = await asyncio.shield(self._loads.for_pinned(state).outcome)
                if isinstance(outcome, LoadedModel):
                    return outcome
                if not isinstance(outcome, LoadCancelled):
                    raise outcome
                # Cancelled: the folder changed while it loaded; look it up again.
        raise LoadPending(f"version {version!r} is still loading")

    def loaded(self, version: str) -> LoadedModel | None:
        """The model of `version`'s current files if it is loaded now (whichever slot keeps
        it); starts no load. VersionNotFound for a version the index does not hold."""
        return self._held.ready(self.registry.resolve(version))

    # -- following the registry ------------------------------------------------------------

    def changed(self) -> None:
        """The index changed: reconcile soon (bursts coalesce into one reconcile)."""
        self._dirty.set()

    async def run(self) -> None:
        """Reconcile once now, then after every change of the index."""
        try:
            await anyio.to_thread.run_sync(start_zygote)
            self._started = time.monotonic()
            self._running = True
            self._dirty.set()
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                self.reconcile()
        finally:
            self._running = False
            self._loads.close()

    def follow(self, release: Release) -> None:
        """Serve by this release state from now on; while running, before this returns (a
        promoted version that is loaded serves, a stopped canary takes no more requests)."""
        self.release = release
        if self._running:
            self.reconcile()
        else:
            self._dirty.set()

    def reconcile(self, fresh: LoadedModel | None = None) -> None:
        """Serve what the release state asks for once it is ready (`fresh`: a load that just
        finished) and have the rest loaded; awaits nothing, so what it checks is what it swaps."""
        self._held.forget_stale()
        wants = Wants(self.registry, self._held, fresh)
        stable = self.release.stable
        if stable is None or not self._serve_stable(stable, wants):
            self._serve_best(wants)
        self._roles.settle(self.release, wants)
        self._schedule(wants)

    def _offer(self, ready: LoadedModel) -> None:
        """`ready` is what the release state asks to serve: serve it (a fleet waits for
        every replica first)."""
        if ready is not self.serving:
            self._swap(ready)

    def _schedule(self, wants: Wants) -> None:
        """Have `wants.window` loaded (and nothing else that is not pinned)."""
        self._loads.schedule(wants.window)

    def _serve_best(self, wants: Wants) -> None:
        """Follow latest: serve the best ready candidate, load the better ones."""
        index = self.registry.index
        window = wants.window
        for name in index.candidates():
            state = index.state(name)
            if state is None:
                continue
            ready = wants.ready(state)
            if ready is not None:
                if not self._waits_for_better(window):
                    self._offer(ready)
                break
            if len(window) < self._loads.concurrency and self._held.failure(state) is None:
                window.append(state)
            if self.serving is not None and self.serving.version == name:
                break  # its folder changed: the old contents serve until the new ones load
        else:
            if not window and self.serving is not None and index.state(self.serving.version) is None:
                log.warning(
                    "%s: no servable version left; still serving %s", self.model, self.serving.version
                )

    def _serve_stable(self, version: str, wants: Wants) -> bool:
        """Serve the promoted `version` once loaded. False when it cannot serve and nothing
        serves yet: then default traffic falls back to following latest (what serves keeps
        serving otherwise, even when its folder is gone)."""
        ready = wants.want(Role.STABLE, version)
        if ready is not None:
            self._offer(ready)
        return Role.STABLE not in wants.unavailable or self.serving is not None

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

    def _swap(self, loaded: LoadedModel) -> None:
        old = self._held.swap(loaded)
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
            self._held.failed(state, str(outcome))
            log.warning("%s: version %s failed to load: %s", self.model, state.name, outcome)
            self.bus.publish(EventType.MODEL_LOAD_FAILED, state.name, model=self.model, error=str(outcome))
            self.reconcile()
            return
        if load.pinned:
            self._held.pin(outcome)
        self.reconcile(fresh=outcome)
