"""Metrics read, not counted: what serves, how many versions, SSE clients, background tasks.

Read from the live objects at scrape time. Task failures are the supervisor's own count
(not counted off the bus), so a failure of the metrics follower itself is counted too.
"""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from regwatch.serving import TaskState

from .state import ServiceState


class ServiceCollector(Collector):
    def __init__(self, svc: ServiceState) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        svc = self.svc
        info = InfoMetricFamily("regwatch_serving", "The version serving each model", labels=["model"])
        versions = GaugeMetricFamily("regwatch_versions", "Complete versions in the index", labels=["model"])
        rescans = 0
        for served in svc.models:
            serving = served.live.serving
            info.add_metric([served.name], {"version": serving.version if serving else ""})
            versions.add_metric([served.name], len(served.registry.index))
            rescans += served.sync.rescans
        yield info
        yield versions
        yield from _shadow_metrics(svc)
        gauges = {
            "regwatch_models": (
                "Models served (the default one and every folder under models/)",
                len(svc.models),
            ),
            "regwatch_event_subscribers": (
                "Subscribers on the event bus (SSE clients and internal)",
                svc.bus.subscriber_count,
            ),
            "regwatch_watcher_events": ("Raw file-system events seen by the watcher", svc.watcher.raw_events),
            "regwatch_watcher_restarts": ("Times the file watcher was restarted", svc.watcher.restarts),
            "regwatch_rescans": ("Rescans of a model's versions run after start-up", rescans),
        }
        for name, (help_text, value) in gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)
        failures = CounterMetricFamily(
            "regwatch_task_failures", "Unexpected exceptions in background tasks", labels=["task"]
        )
        up = GaugeMetricFamily(
            "regwatch_task_up",
            "1 while a background task runs, 0 while it restarts or failed",
            labels=["task"],
        )
        for name, health in svc.supervisor.tasks.items():
            failures.add_metric([name], health.failures)
            up.add_metric([name], 1 if health.state is TaskState.RUNNING else 0)
        yield failures
        yield up


def _shadow_metrics(svc: ServiceState) -> Iterator[Metric]:
    """Each model's shadow comparison: counts for its life, agreement for the current shadow."""
    agreement = GaugeMetricFamily(
        "regwatch_shadow_agreement",
        "Share of the current shadow's predictions equal to stable's",
        labels=["model"],
    )
    mean_abs_diff = GaugeMetricFamily(
        "regwatch_shadow_mean_abs_diff",
        "Mean absolute difference between the current shadow's and stable's numeric predictions",
        labels=["model"],
    )
    compared = CounterMetricFamily(
        "regwatch_shadow_comparisons", "Instances predicted by a shadow and compared", labels=["model"]
    )
    dropped = CounterMetricFamily(
        "regwatch_shadow_dropped", "Instances not shadowed: the shadow's queue was full", labels=["model"]
    )
    failed = CounterMetricFamily(
        "regwatch_shadow_failures", "Instances the shadow failed to predict", labels=["model"]
    )
    for served in svc.models:
        shadow = served.shadow
        compared.add_metric([served.name], shadow.compared)
        dropped.add_metric([served.name], shadow.dropped)
        failed.add_metric([served.name], shadow.failed)
        current = shadow.current
        if current is not None and current.share is not None:
            agreement.add_metric([served.name], current.share)
        if current is not None and current.mean_abs_diff is not None:
            mean_abs_diff.add_metric([served.name], current.mean_abs_diff)
    yield from (agreement, mean_abs_diff, compared, dropped, failed)
