"""Server-Sent Events pieces shared by both event streams: this process's own (routes/events.py)
and, in cluster mode, the fleet's (fleet_stream.py)."""

import json
import re
from collections.abc import Iterator

from fastapi.sse import format_sse_event

from regwatch.events import EventType
from regwatch.serving import ServedModel

from .routes.models import model_view, models_view
from .state import ServiceState

SNAPSHOT_SLICE = 64 * 1024  # uvicorn pauses a stream once 64 KiB wait in its transport


def snapshot_event(svc: ServiceState, only: ServedModel | None, event_id: int) -> bytes:
    """The snapshot as one SSE event with `event_id`: the document of GET /models for
    `only`, or, unfiltered, for the default model plus every model's view (`all_models`)."""
    view = models_view(svc, only or svc.default)
    if only is None:
        view["all_models"] = [model_view(served) for served in svc.models]
    data = json.dumps({"type": "snapshot", **view}, default=str)
    return format_sse_event(data_str=data, event="snapshot", id=str(event_id))


def slices(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)  # slicing a view copies nothing
    return (view[start : start + SNAPSHOT_SLICE] for start in range(0, len(view), SNAPSHOT_SLICE))


# ASCII digits only (`str.isdigit` also accepts "²"), and few enough to be an id we issue.
_EVENT_ID = re.compile(r"[0-9]{1,19}")


def resume_point(last_event_id: str | None) -> int | None:
    if last_event_id is None or not _EVENT_ID.fullmatch(last_event_id):
        return None
    return int(last_event_id)


def reset_event(reason: str) -> bytes:
    return format_sse_event(
        data_str=json.dumps({"type": EventType.RESET, "reason": reason}), event=EventType.RESET
    )
