"""The events that flow through the bus.

Public events are what subscribers outside the process see (SSE); internal events are
hints between the watcher and the index and are never replayed or streamed.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

PUBLIC_TYPES = frozenset(
    {
        "version_added",
        "version_updated",
        "version_removed",
        "version_rejected",
        "latest_changed",
        "model_loaded",
        "model_load_failed",
    }
)
VERSION_CHANGED = "version_changed"  # internal: the folder of `version` may have changed
RESCAN_REQUESTED = "rescan_requested"  # internal: events may have been missed, rescan all
RESET = "reset"  # to one subscriber: you missed events, re-read the state
KEEPALIVE = "keepalive"  # internal: a tick for streams to send a keep-alive comment


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    type: str
    version: str | None = None
    at: str = field(default_factory=utc_now)
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def public(self) -> bool:
        return self.type in PUBLIC_TYPES

    def payload(self) -> dict[str, Any]:
        """The JSON body a subscriber receives."""
        return {"type": self.type, "version": self.version, "at": self.at, **self.data}
