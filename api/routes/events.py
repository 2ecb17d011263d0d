"""GET /events: the registry as a Server-Sent Events stream.

A new client gets a `snapshot` (the same document as GET /models, plus, on an unfiltered
stream, every model's view under `"all_models"`) and then live events; `?model=NAME` keeps
that model's events and the service-wide ones (`"model": null`).
A client that reconnects with `Last-Event-ID` gets exactly the events it missed, or,
when they have left the replay buffer, `reset` followed by a fresh `snapshot`. A shared
tick on the bus sends every stream a keep-alive comment while idle.

The stream is handed to `EventSourceResponse` as ready bytes: each event is encoded once
(`format_sse_event`) however many clients receive it, and a delivery is one hop from the
client's queue to its socket. With a thousand clients that is what keeps fan-out fast.
The snapshot too is encoded once per bus state and shared: with 10,000 versions it is
megabytes. It is sent in slices of that one object, so a client that does not read is
paused by the transport's flow control after a slice or two, instead of each unread stream
buffering its own copy of the whole document.

When the service stops, the bus closes and every stream ends at once.

In cluster mode, while NATS is reachable, the stream is the fleet's (`fleet_stream.py`):
the same events from every replica, ids that any replica resumes from. While it is not,
this replica's own events are served as above (their ids are of another range: resuming
one on the fleet's stream, or the reverse, gets a `reset`).
"""

import json
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event

from regwatch.events import PUBLIC_TYPES, Event, EventType
from regwatch.serving import ServedModel

from ..sse import reset_event, resume_point, slices, snapshot_event
from ..state import ServiceState, service
from .models import ModelQuery

router = APIRouter(tags=["events"])


@lru_cache(maxsize=1024)
def _encode(event: Event) -> bytes:
    data = json.dumps({"id": event.id, **event.payload()}, default=str)
    return format_sse_event(data_str=data, event=event.type, id=str(event.id))


def snapshot_bytes(svc: ServiceState, only: ServedModel | None = None) -> bytes:
    """The snapshot event as it is sent, one shared object per bus state (and filter)."""
    return _snapshot_at(svc, only, svc.bus.last_id)


# Every change to what the snapshot shows is published on the bus, so the last event id
# names the state: one encoding per id, shared by every stream that asks at that id.
_snapshot_at = lru_cache(maxsize=8)(snapshot_event)


async def _stream(
    svc: ServiceState, only: ServedModel | None, resume_from: str | None
) -> AsyncIterator[bytes | memoryview]:
    subscription = svc.bus.subscribe(
        PUBLIC_TYPES | {EventType.RESET, EventType.KEEPALIVE},
        maxsize=svc.settings.subscriber_queue,
        model=only.name if only else None,
    )
    # Subscribing and reading the buffer happen with no await in between: no gap, no repeat.
    resume_at = resume_point(resume_from)
    missed = svc.bus.since(resume_at) if resume_at is not None else None
    with subscription:
        if missed is not None:
            for event in missed:
                if subscription.wants(event):
                    yield _encode(event)
        else:
            if resume_from:
                yield reset_event("the events after your Last-Event-ID are no longer available")
            for piece in slices(snapshot_bytes(svc, only)):
                yield piece
        async for event in subscription:
            if event.type is EventType.KEEPALIVE:
                yield KEEPALIVE_COMMENT
            elif event.type is EventType.RESET:
                yield reset_event("you fell behind the event stream")
                for piece in slices(snapshot_bytes(svc, only)):
                    yield piece
            else:
                yield _encode(event)


# Not `response_class=EventSourceResponse`: that asks FastAPI to run a generator through
# its per-item pipeline; here the route returns the finished response itself.
@router.get(
    "/events",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def stream_events(
    svc: Annotated[ServiceState, Depends(service)],
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    last_event_id: Annotated[str | None, Query(max_length=32)] = None,
    model: ModelQuery = None,
) -> EventSourceResponse:
    only = svc.model(model) if model is not None else None  # an unknown model: 404
    resume_from = last_event_id_header or last_event_id
    if svc.cluster is not None and svc.cluster.fleet.connected:
        from ..fleet_stream import fleet_stream  # cluster mode only (imports NATS)

        return EventSourceResponse(fleet_stream(svc, svc.cluster.fleet, only, resume_from))
    return EventSourceResponse(_stream(svc, only, resume_from))
