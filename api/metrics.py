"""Prometheus metrics, kept in a registry of the app's own (so two apps never share one).

Request metrics come from a pure ASGI middleware; model metrics from the bus (the same
events SSE clients see); values read from the live objects at scrape time are collected by
`service_metrics.ServiceCollector`.
"""

import time
from functools import lru_cache

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from regwatch.events import PUBLIC_TYPES, EventBus, EventType

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "regwatch_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "regwatch_http_request_duration_seconds",
            "Time to the response's first byte",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "regwatch_predictions",
            "Instances predicted, by model, version and role (stable, canary, shadow, pinned)",
            ["model", "version", "role"],
            registry=r,
        )
        self.batch_rows = Histogram(
            "regwatch_predict_batch_rows",
            "Rows per predict call (concurrent requests for one model are merged)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.swaps = Counter("regwatch_model_swaps", "Models swapped in", ["model"], registry=r)
        self.load_failures = Counter(
            "regwatch_model_load_failures", "Model loads that failed", ["model"], registry=r
        )
        self.load_seconds = Histogram(
            "regwatch_model_load_duration_seconds",
            "Time to load and validate a model",
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
            registry=r,
        )
        self.registry_events = Counter(
            "regwatch_registry_events", "Registry events published", ["type"], registry=r
        )
        # `labels()` locks and builds a key on every call; on the hot path each label set
        # (route x method x status, or a version) is looked up once and reused.
        self.request_counter = lru_cache(maxsize=1024)(self.requests.labels)
        self.latency_histogram = lru_cache(maxsize=1024)(self.latency.labels)
        self.prediction_counter = lru_cache(maxsize=1024)(self.predictions.labels)

    async def follow(self, bus: EventBus) -> None:
        """Count the bus's public events for as long as the service runs."""
        with bus.subscribe(PUBLIC_TYPES, maxsize=10_000) as events:
            async for event in events:
                self.registry_events.labels(event.type).inc()
                if event.type is EventType.MODEL_LOADED:
                    self.swaps.labels(event.model).inc()
                    self.load_seconds.observe(event.data.get("load_ms", 0) / 1000)
                elif event.type is EventType.MODEL_LOAD_FAILED:
                    self.load_failures.labels(event.model).inc()


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - started
                self.metrics.latency_histogram(scope["method"], _route_of(scope)).observe(elapsed)
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            self.metrics.request_counter(scope["method"], _route_of(scope), str(status)).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"
