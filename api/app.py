"""The FastAPI application and its lifespan: the one place the pieces are wired together.

watcher --hints--> bus --> ServedModels --> RegistrySync --> LiveModel --> bus --> SSE
                           (per model)      (index)          (swap)
                                        --> ReleaseFile ------^
                                            (release.json: stable, canary, shadow)

Every background task runs under the `Supervisor`: a failure is reported and restarted,
never allowed to take the others (or the lifespan) down with it.

In cluster mode (`REGWATCH_NATS_URL`), the fleet membership and the relay of events into
the fleet's stream run beside them, and each model's LiveModel gets its seat in the fleet.
"""

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import sklearn
from fastapi import FastAPI

from regwatch.events import EventBus, EventType
from regwatch.registry import ModelRegistry, locate, model_dir, watch_points
from regwatch.serving import (
    PARALLEL_INSPECTIONS,
    Batcher,
    LiveModel,
    RegistrySync,
    ReleaseFile,
    RestartPolicy,
    Role,
    ServedModel,
    ServedModels,
    Shadow,
    Supervisor,
)
from regwatch.watcher import FolderWatcher

from .body_limit import BodyLimitMiddleware
from .errors import install_error_handlers
from .metrics import Metrics, RequestMetricsMiddleware
from .request_id import RequestIdMiddleware
from .routes import dashboard, events, fleet, health, models, predict, release, v2
from .routes import metrics as metrics_route
from .service_metrics import ServiceCollector
from .settings import Settings
from .state import ServiceState

if TYPE_CHECKING:
    from regwatch.serving.cluster import Cluster

log = logging.getLogger("regwatch.api")


async def _keepalive_ticks(bus: EventBus, every: float) -> None:
    """One shared tick for every SSE stream, instead of a timeout on each stream's wait."""
    while True:
        await anyio.sleep(every)
        bus.publish(EventType.KEEPALIVE)


def _make_versions_dir(registry: ModelRegistry) -> None:
    """The default model's `versions/`, so a first drop can be a plain rename into it."""
    try:
        registry.versions_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in its place, a read-only volume: the sync says what is wrong
        log.warning("cannot create %s: %s", registry.versions_dir, exc)


def _builder(
    settings: Settings, bus: EventBus, batcher: Batcher, metrics: Metrics, cluster: "Cluster | None"
) -> Callable[[str], ServedModel]:
    """How one model is put together: the default one, and every one found later."""
    root = settings.registry.absolute()
    policy = settings.load_policy()
    # Shared by every model: inspections in threads, and loads competing for the CPU.
    inspections = anyio.CapacityLimiter(PARALLEL_INSPECTIONS)
    loads = anyio.CapacityLimiter(settings.load_concurrency)

    def build(name: str) -> ServedModel:
        folder = model_dir(root, name, settings.default_model)
        registry = ModelRegistry(
            folder,
            include_prereleases=settings.include_prereleases,
            settle_seconds=settings.settle_seconds,
            max_metadata_bytes=settings.max_metadata_bytes,
            allow_pickle=settings.allow_pickle,
            scan=False,
        )
        options: dict[str, Any] = dict(
            model=name,
            policy=policy,
            concurrency=settings.load_concurrency,
            limiter=loads,
            pinned_slots=settings.pinned_cache_size,
            pinned_wait=settings.pinned_wait_seconds,
            pinned_interval=settings.pinned_load_interval,
            keep_previous=settings.keep_previous,
        )
        seat = cluster.seat(name) if cluster is not None else None
        if seat is None:
            live = LiveModel(registry, bus, **options)
        else:
            from regwatch.serving.fleet_live import FleetLiveModel  # cluster mode only

            live = FleetLiveModel(registry, bus, seat=seat, **options)
        # `latest/` is kept for readers of the original layout: the default model's only.
        sync = RegistrySync(
            registry,
            bus,
            model=name,
            on_change=live.changed,
            mirror_latest=name == settings.default_model,
            limiter=inspections,
        )
        counter = metrics.prediction_counter
        shadow = Shadow(
            live,
            batcher,
            queue_size=settings.shadow_queue,
            predicted=lambda version, rows: counter(name, version, Role.SHADOW).inc(rows),
        )
        release = ReleaseFile(folder, bus, live, model=name)
        return ServedModel(name, registry, sync, live, release, shadow, seat)

    return build


def _restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(
        backoff=settings.task_restart_backoff_seconds,
        max_backoff=settings.task_restart_max_backoff_seconds,
        max_failures=settings.task_max_failures,
        window=settings.task_failure_window_seconds,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # /predict hands scikit-learn only arrays pydantic has checked to be finite, so its
        # own finiteness scan is redundant (~25 us of a one-row predict). The setting is per
        # thread: this is the event loop's, where small batches predict.
        sklearn.set_config(assume_finite=True)
        bus = EventBus(buffer_size=settings.event_buffer, queue_size=settings.subscriber_queue)
        bus.bind(asyncio.get_running_loop())
        root = settings.registry.absolute()
        cluster = relay = None
        if (fleet_config := settings.fleet_config()) is not None:
            from regwatch.serving.cluster import Cluster  # cluster mode only (imports NATS)
            from regwatch.serving.relay import EventRelay

            cluster = Cluster(fleet_config)
            relay = EventRelay(bus, cluster.fleet)
        watcher = FolderWatcher(
            root,
            bus,
            poll=settings.poll,
            poll_interval=settings.poll_interval,
            settle=settings.settle_seconds,
            reconcile_interval=settings.reconcile_interval,
            locate=partial(locate, default_model=settings.default_model),
            top_levels=watch_points,
        )
        batcher = Batcher(
            max_rows=settings.batch_max_rows,
            max_wait=settings.batch_max_wait_ms / 1000,
            inline_rows=settings.inline_rows,
            observe=metrics.batch_rows.observe,
        )
        async with anyio.create_task_group() as tasks:
            supervisor = Supervisor(tasks, bus, _restart_policy(settings))
            models = ServedModels(
                root,
                bus,
                supervisor,
                _builder(settings, bus, batcher, metrics, cluster),
                settings.default_model,
            )
            svc = app.state.service = ServiceState(
                settings, bus, models, watcher, supervisor, metrics, batcher, cluster, relay
            )
            metrics.registry.register(ServiceCollector(svc))
            try:
                supervisor.start("metrics", partial(metrics.follow, bus))
                if cluster is not None and relay is not None:
                    from .fleet_metrics import FleetCollector

                    metrics.registry.register(FleetCollector(cluster.fleet, relay))
                    supervisor.start("fleet", cluster.fleet.run)  # joins while the volume is scanned
                    supervisor.start("fleet-events", relay.run)
                discovery = time.perf_counter()
                await anyio.to_thread.run_sync(_make_versions_dir, models.default.registry)
                await models.discover()
                supervisor.start("models", models.run)
                await supervisor.started("models", models.following)  # no hint lost from here on
                supervisor.start("watcher", watcher.run)
                await supervisor.started("watcher", watcher.started)
                await models.scan()
                discovery = time.perf_counter() - discovery
                keepalive = partial(_keepalive_ticks, bus, settings.sse_keepalive_seconds)
                supervisor.start("keepalive", keepalive)
                log.info(
                    "watching %s (%s); %d models, %d versions in all, discovered in %.3f s; "
                    "%d versions of the default model, latest %s",
                    root,
                    "polling" if settings.poll else "inotify",
                    len(models),
                    sum(len(served.registry.index) for served in models),
                    discovery,
                    len(models.default.registry.index),
                    models.default.registry.get_latest_version(),
                )
                # What start-up built (modules, the app) lives as long as the service: keep it
                # out of the cyclic GC's full collections, which otherwise scan all of it (~90 ms
                # here) and, with batching keeping many requests in flight, come often enough to
                # be the p99.
                gc.freeze()
                yield
            finally:
                gc.unfreeze()
                svc.begin_shutdown()

    app = FastAPI(
        title="regwatch",
        summary="Serves the latest scikit-learn model of a watched folder registry.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app, cluster=bool(settings.nats_url))
    # Starlette tries routes in order: the two predict paths come first (routing cost grows
    # with every route tried before the match).
    app.include_router(predict.router)
    # V2 infer's routes are the app's own, not an included router's: FastAPI matches an
    # included router as a nested router, which cost V2 infer ~10 us per request.
    app.router.routes.extend(v2.infer_router.routes)
    for routes in (v2, models, events, health, fleet, metrics_route, dashboard, release):
        app.include_router(routes.router)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    return app
