"""The events that flow through the bus.

Public events are what subscribers outside the process see (SSE); internal events are
hints between the watcher and the index and are never replayed or streamed.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """Every event name, public or internal: the one place they are spelled."""

    VERSION_ADDED = "version_added"
    VERSION_UPDATED = "version_updated"
    VERSION_REMOVED = "version_removed"
    VERSION_REJECTED = "version_rejected"
    LATEST_CHANGED = "latest_changed"
    MODEL_LOADED = "model_loaded"
    MODEL_LOAD_FAILED = "model_load_failed"
    # a model folder appeared under models/, went away, or has a name that is refused
    MODEL_ADDED = "model_added"
    MODEL_REMOVED = "model_removed"
    MODEL_REJECTED = "model_rejected"
    # a background task raised (or gave up after repeated failures): see `task`, `error`
    TASK_FAILED = "task_failed"
    # a model's release state in force changed (`release`: the full state)
    RELEASE_CHANGED = "release_changed"
    # a model's release file cannot be used (`reason`); the last good state stays in force
    RELEASE_REJECTED = "release_rejected"
    # a version the release state names cannot take its traffic (`role`, `reason`)
    RELEASE_VERSION_UNAVAILABLE = "release_version_unavailable"
    # the canary or the shadow the release state names is loaded and takes its traffic (`role`)
    RELEASE_VERSION_READY = "release_version_ready"
    # internal: the folder of `version` of `model` may have changed
    VERSION_CHANGED = "version_changed"
    # internal: a model's folder (or its versions/, or models/ itself when `model` is None)
    # appeared, went away or was replaced
    MODEL_CHANGED = "model_changed"
    # internal: a model's release file may have changed
    RELEASE_FILE_CHANGED = "release_file_changed"
    # internal: events may have been missed, rescan all
    RESCAN_REQUESTED = "rescan_requested"
    # to one subscriber: you missed events, re-read the state
    RESET = "reset"
    # internal: a tick for streams to send a keep-alive comment
    KEEPALIVE = "keepalive"


PUBLIC_TYPES = frozenset(
    {
        EventType.VERSION_ADDED,
        EventType.VERSION_UPDATED,
        EventType.VERSION_REMOVED,
        EventType.VERSION_REJECTED,
        EventType.LATEST_CHANGED,
        EventType.MODEL_LOADED,
        EventType.MODEL_LOAD_FAILED,
        EventType.MODEL_ADDED,
        EventType.MODEL_REMOVED,
        EventType.MODEL_REJECTED,
        EventType.TASK_FAILED,
        EventType.RELEASE_CHANGED,
        EventType.RELEASE_REJECTED,
        EventType.RELEASE_VERSION_UNAVAILABLE,
        EventType.RELEASE_VERSION_READY,
    }
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    type: EventType
    version: str | None = None
    model: str | None = None  # None: about the whole service (a task, a rescan)
    at: str = field(default_factory=utc_now)
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def public(self) -> bool:
        return self.type in PUBLIC_TYPES

    def payload(self) -> dict[str, Any]:
        """The JSON body a subscriber receives."""
        return {"type": self.type, "model": self.model, "version": self.version, "at": self.at, **self.data}
