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
loaded (the latest is kept loaded, so promoting it is instant) but take no default
traffic; when the stable is gone or failed, what serves keeps serving (nothing serves yet:
the walk above). A canary and a shadow are loaded and kept (never evicted) while named,
and take their traffic only once loaded. Each role that cannot be served is reported once
per reason (`release_version_unavailable`).

A replica in a fleet is a `FleetLiveModel` (`fleet_live.py`): the same, except for what
`_offer` does with a ready version and what `_schedule` also keeps loaded.
"""

import asyncio
import logging
import time
from functools import partial

import anyio

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelRegistry, VersionNotFound, VersionState
from regwatch.registry.release import Release

from .errors import LoadCancelled, LoadError, LoadPending
from .held import Held
from .loading import LoadedModel
from .loads import Load, Loads, Outcome
from .policy import LoadPolicy
from .probe import start_zygote
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
        # The release state in force, and what it keeps loaded (canary, shadow, latest).
        self.release = Release()
        self.canary: Split | None = None  # a loaded canary: it takes its share
        self.shadow: LoadedModel | None = None  # a loaded shadow: it is compared
        self.unavailable: dict[Role, tuple[str, str]] = {}  # role -> the version named, why not
        self._running = False

    @property
    def serving(self) -> LoadedModel | None:
        """The model that answers default traffic (None: nothing loaded yet)."""
        return self._held.serving

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
        window: list[VersionState] = []
        unavailable: dict[Role, tuple[str, str]] = {}
        stable = self.release.stable
        if stable is None or not self._serve_stable(stable, fresh, window, unavailable):
            self._serve_best(fresh, window)
        self._keep_named(fresh, window, unavailable)
        self._report(unavailable)
        self._schedule(window)

    def _offer(self, ready: LoadedModel) -> None:
        """`ready` is what the release state asks to serve: serve it (a fleet waits for
        every replica first)."""
        if ready is not self.serving:
            self._swap(ready)

    def _schedule(self, window: list[VersionState]) -> None:
        """Have `window` loaded (and nothing else that is not pinned)."""
        self._loads.schedule(window)

    def _serve_best(self, fresh: LoadedModel | None, window: list[VersionState]) -> None:
        """Follow latest: serve the best ready candidate, load the better ones."""
        index = self.registry.index
        for name in index.candidates():
            state = index.state(name)
            if state is None:
                continue
            ready = self._held.ready(state, fresh)
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

    def _serve_stable(
        self,
        version: str,
        fresh: LoadedModel | None,
        window: list[VersionState],
        unavailable: dict[Role, tuple[str, str]],
    ) -> bool:
        """Serve the promoted `version` once loaded. False when it cannot serve and nothing
        serves yet: then default traffic falls back to following latest (what serves keeps
        serving otherwise, even when its folder is gone)."""
        ready = self._want(Role.STABLE, version, fresh, window, unavailable)
        if ready is not None:
            self._offer(ready)
        return Role.STABLE not in unavailable or self.serving is not None

    def _keep_named(
        self, fresh: LoadedModel | None, window: list[VersionState], unavailable: dict[Role, tuple[str, str]]
    ) -> None:
        """Load and keep what the state names besides stable: the canary, the shadow and,
        while a stable is promoted, the latest (validated and ready: promoting it is instant)."""
        release = self.release
        want = partial(self._want, fresh=fresh, window=window, unavailable=unavailable)
        canary = want(Role.CANARY, release.canary.version) if release.canary else None
        shadow = want(Role.SHADOW, release.shadow) if release.shadow else None
        latest = self.registry.index.latest()
        held = want(None, latest) if release.stable and latest else None
        self._held.keep(loaded for loaded in (canary, shadow, held) if loaded)
        for role, now, before in (
            (Role.CANARY, canary, self.canary.model if self.canary else None),
            (Role.SHADOW, shadow, self.shadow),
        ):
            if now is not None and now is not before:
                log.info("%s: %s %s takes its traffic", self.model, role, now.version)
                self.bus.publish(EventType.RELEASE_VERSION_READY, now.version, model=self.model, role=role)
        self.canary = Split(canary, release.canary.percent) if canary and release.canary else None
        self.shadow = shadow

    def _want(
        self,
        role: Role | None,
        version: str,
        fresh: LoadedModel | None,
        window: list[VersionState],
        unavailable: dict[Role, tuple[str, str]],
    ) -> LoadedModel | None:
        """The loaded model of `version` (any spelling) when ready; else have it loaded, or
        note why it cannot be under its `role`."""
        try:
            state = self.registry.resolve(version)
        except VersionNotFound:
            why = "is not on the volume (or not complete)"
        else:
            if (ready := self._held.ready(state, fresh)) is not None:
                return ready
            if (reason := self._queue(state, window)) is None:
                return None
            why = f"failed to load: {reason}"
        if role is not None:
            unavailable[role] = (version, f"version {version} {why}")
        return None

    def _queue(self, state: VersionState, window: list[VersionState]) -> str | None:
        """Have these files loaded (once in `window`) unless they failed to load: then why."""
        if (reason := self._held.failure(state)) is None and all(
            queued.name != state.name for queued in window
        ):
            window.append(state)
        return reason

    def _report(self, unavailable: dict[Role, tuple[str, str]]) -> None:
        """Say once why each role the release state names cannot serve (until that changes)."""
        for role, (version, reason) in unavailable.items():
            if self.unavailable.get(role) != (version, reason):
                log.warning("%s: the release's %s cannot serve: %s", self.model, role, reason)
                self.bus.publish(
                    EventType.RELEASE_VERSION_UNAVAILABLE, version, model=self.model, role=role, reason=reason
                )
        self.unavailable = unavailable

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
