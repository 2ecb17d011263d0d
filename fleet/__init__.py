"""Cluster mode: replicas of one registry switch versions as one, over NATS JetStream.

A replica runs `Fleet(FleetConfig(url=...))`; the service tells it what it wants and has
loaded, passes every prediction through `fleet.gate(model)`, and streams the fleet's events
through `fleet.events`. The protocol is in `rules.py`; the wiring is in `README.md`.
"""

from .config import FleetConfig, default_replica_id
from .coordinator import Fleet, FleetUnavailable
from .gate import FleetNotReady
from .records import Canary, MemberRecord, ModelReport, Pointer, RecordError
from .status import Counters, FleetStatus, ModelStatus
from .stream import EventsLost, FleetEvents

__all__ = [
    "Canary",
    "Counters",
    "EventsLost",
    "Fleet",
    "FleetConfig",
    "FleetEvents",
    "FleetNotReady",
    "FleetStatus",
    "FleetUnavailable",
    "MemberRecord",
    "ModelReport",
    "ModelStatus",
    "Pointer",
    "RecordError",
    "default_replica_id",
]
