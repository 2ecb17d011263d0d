"""The live model: which loaded model answers `/predict`, and how it changes.

`LiveModel.run()` listens to the bus. Any change to the set of versions marks the holder
dirty; one worker then picks the best version it can serve (latest first, then down,
skipping versions whose current files already failed), loads it off the event loop and
swaps it in with a single assignment. A request holds on to the model it started with,
so a swap never interrupts it. Loaded models live in a small LRU cache, which keeps the
previous model warm for an instant fallback and serves pinned versions.
"""

import asyncio
import logging
from collections import OrderedDict

import anyio

from regwatch.events import EventBus, EventType, Subscription
from regwatch.registry import CorruptVersion, ModelRegistry, VersionNotFound, VersionState

from .loading import LoadedModel, LoadError, load_model

log = logging.getLogger("regwatch.live")

TRIGGERS = (
    EventType.VERSION_ADDED,
    EventType.VERSION_UPDATED,
    EventType.VERSION_REMOVED,
    EventType.LATEST_CHANGED,
    EventType.RESET,
)


class LiveModel:
    def __init__(
        self,
        registry: ModelRegistry,
        bus: EventBus,
        *,
        cache_size: int = 2,
        allow_version_mismatch: bool = False,
    ) -> None:
        self.registry = registry
        self.bus = bus
        self.serving: LoadedModel | None = None
        self.allow_version_mismatch = allow_version_mismatch
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()
        self._cache_size = cache_size
        self._failed: dict[str, tuple[tuple[int, ...], str]] = {}
        self._loading: dict[str, asyncio.Future[LoadedModel]] = {}
        self._dirty = asyncio.Event()

    # -- serving -----------------------------------------------------------------------

    async def get(self, version: str) -> LoadedModel:
        """A loaded model for a pinned version. Raises VersionNotFound or LoadError."""
        state = self.registry.resolve(version)
        if self._serves(state):
            return self.serving
        return await self._load(state.name)

    def _serves(self, state: VersionState) -> bool:
        """Is the serving model exactly this folder's current contents?"""
        serving = self.serving
        return (
            serving is not None and serving.version == state.name and serving.fingerprint == state.fingerprint
        )

    # -- changing what is served ---------------------------------------------------------

    async def run(self) -> None:
        """Reconcile once now, then after every registry change (bursts coalesce)."""
        with self.bus.subscribe(TRIGGERS) as changes:
            self._dirty.set()
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._mark_dirty_on, changes)
                while True:
                    await self._dirty.wait()
                    self._dirty.clear()
                    await self.reconcile()

    async def _mark_dirty_on(self, changes: Subscription) -> None:
        async for _ in changes:
            self._dirty.set()

    async def reconcile(self) -> None:
        """Serve the best servable version; keep the current one if nothing better loads."""
        for gone in [name for name in self._failed if self.registry.index.state(name) is None]:
            del self._failed[gone]
        for name in self.registry.index.candidates():
            state = self.registry.index.state(name)
            if state is None:
                continue
            if self._serves(state):
                return
            try:
                loaded = await self._load(name)  # raises at once for files that already failed
            except (LoadError, VersionNotFound):
                continue
            self._swap(loaded)
            return
        if self.serving is not None and self.registry.index.state(self.serving.version) is None:
            log.warning("no servable version left; still serving %s", self.serving.version)

    def _swap(self, loaded: LoadedModel) -> None:
        previous = self.serving
        self.serving = loaded
        log.info("serving %s (was %s)", loaded.version, previous.version if previous else None)
        self.bus.publish(
            EventType.MODEL_LOADED,
            loaded.version,
            previous=previous.version if previous else None,
            load_ms=round(loaded.load_seconds * 1000, 3),
            warnings=list(loaded.warnings),
        )

    async def _load(self, name: str) -> LoadedModel:
        """Load through the cache; concurrent callers for one version share one load."""
        state = self.registry.resolve(name)
        cached = self._cache.get(name)
        if cached is not None and cached.fingerprint == state.fingerprint:
            self._cache.move_to_end(name)
            return cached
        failed = self._failed.get(name)
        if failed is not None and failed[0] == state.fingerprint:
            raise LoadError(failed[1])
        pending = self._loading.get(name)
        if pending is None:
            pending = self._loading[name] = asyncio.ensure_future(self._load_uncached(state))
            pending.add_done_callback(lambda _: self._loading.pop(name, None))
        return await asyncio.shield(pending)

    async def _load_uncached(self, state: VersionState) -> LoadedModel:
        # Make room first: at most `cache_size` models are alive even while one loads.
        while len(self._cache) >= self._cache_size:
            self._cache.popitem(last=False)
        try:
            path = self.registry.model_path(state.name)
            loaded = await anyio.to_thread.run_sync(load_model, path, state, self.allow_version_mismatch)
        except (LoadError, CorruptVersion) as exc:
            raise self._record_failure(state, str(exc)) from None
        self._failed.pop(state.name, None)
        self._cache[state.name] = loaded
        self._cache.move_to_end(state.name)
        return loaded

    def _record_failure(self, state: VersionState, reason: str) -> LoadError:
        """Remember the failure for these exact files (a change retries) and report it."""
        self._failed[state.name] = (state.fingerprint, reason)
        log.warning("version %s failed to load: %s", state.name, reason)
        self.bus.publish(EventType.MODEL_LOAD_FAILED, state.name, error=reason)
        return LoadError(reason)

    @property
    def failures(self) -> dict[str, str]:
        return {name: reason for name, (_, reason) in self._failed.items()}
