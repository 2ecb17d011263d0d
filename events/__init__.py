"""The in-process event bus: typed events, monotonic ids, replay, bounded subscribers."""

from .bus import BusClosed, EventBus, Subscription
from .types import PUBLIC_TYPES, Event, EventType, utc_now

__all__ = [
    "PUBLIC_TYPES",
    "BusClosed",
    "Event",
    "EventBus",
    "EventType",
    "Subscription",
    "utc_now",
]
