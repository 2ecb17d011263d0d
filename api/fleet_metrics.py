"""Cluster mode's metrics, read from the fleet's status at scrape time (nothing is counted on
the request path). Registered only with `REGWATCH_NATS_URL`: a process alone has none."""

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from regwatch.fleet import Fleet
from regwatch.serving.relay import EventRelay

COUNTERS = {
    "pointer_writes": "Fleet pointer compare-and-sets this replica won (fences and commits)",
    "pointer_races_lost": "Fleet pointer compare-and-sets another replica won first",
    "reconnects": "Reconnections to NATS",
    "bad_records": "Values in the fleet's buckets that did not parse (ignored)",
}


class FleetCollector(Collector):
    def __init__(self, fleet: Fleet, relay: EventRelay) -> None:
        self.fleet = fleet
        self.relay = relay

    def collect(self) -> Iterator[Metric]:
        status = self.fleet.status()
        gauges = {
            "regwatch_fleet_connected": ("1 while NATS is reachable", status.connected),
            "regwatch_fleet_ready": ("1 while every model has the fleet's version loaded here", status.ready),
            "regwatch_fleet_members": ("Live replicas this replica sees", len(status.members)),
        }
        for name, (help_text, value) in gauges.items():
            yield GaugeMetricFamily(name, help_text, value=float(value))
        answer = InfoMetricFamily(
            "regwatch_fleet_answer",
            "The version and canary each model answers with here ('' while held), and the fleet's",
            labels=["model"],
        )
        for model in status.models:
            canary = model.answer_canary
            answer.add_metric(
                [model.model],
                {
                    "version": model.answer or "",
                    "active": model.active or "",
                    "canary": canary.version if canary else "",
                    "canary_percent": f"{canary.percent:g}" if canary else "",
                },
            )
        yield answer
        for key, help_text in COUNTERS.items():
            yield CounterMetricFamily(f"regwatch_fleet_{key}", help_text, value=getattr(status.counters, key))
        yield CounterMetricFamily(
            "regwatch_fleet_events_published",
            "Events this replica put into the fleet's stream",
            self.relay.published,
        )
        yield CounterMetricFamily(
            "regwatch_fleet_events_unpublished",
            "Events the fleet's stream misses from this replica (NATS unreachable, refused, or lagged)",
            self.relay.unpublished,
        )
