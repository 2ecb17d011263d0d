"""The in-process event bus: typed events, monotonic ids, replay, bounded subscribers."""

from .bus import EventBus, Subscription
from .types import KEEPALIVE, PUBLIC_TYPES, RESCAN_REQUESTED, RESET, VERSION_CHANGED, Event, utc_now

__all__ = [
    "KEEPALIVE",
    "PUBLIC_TYPES",
    "RESCAN_REQUESTED",
    "RESET",
    "VERSION_CHANGED",
    "Event",
    "EventBus",
    "Subscription",
    "utc_now",
]
