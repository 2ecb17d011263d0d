"""GET /events: the registry as a Server-Sent Events stream.

A new client gets a `snapshot` (the same document as GET /models) and then live events.
A client that reconnects with `Last-Event-ID` gets exactly the events it missed, or,
when they have left the replay buffer, `reset` followed by a fresh `snapshot`. While idle,
FastAPI's SSE support sends a `: ping` comment every 15 s, which keeps proxies from
closing the connection.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent

from events import PUBLIC_TYPES, RESET, Event

from ..state import ServiceState, service
from .models import models_view

router = APIRouter(tags=["events"])


def _to_sse(event: Event) -> ServerSentEvent:
    return ServerSentEvent(event=event.type, id=str(event.id), data={"id": event.id, **event.payload()})


def _snapshot(svc: ServiceState) -> ServerSentEvent:
    last_id = svc.bus.last_id
    return ServerSentEvent(event="snapshot", id=str(last_id), data={"type": "snapshot", **models_view(svc)})


def _reset(reason: str) -> ServerSentEvent:
    return ServerSentEvent(event=RESET, data={"type": RESET, "reason": reason})


@router.get("/events", response_class=EventSourceResponse)
async def stream_events(
    request: Request,
    svc: Annotated[ServiceState, Depends(service)],
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
    last_event_id: Annotated[str | None, Query(max_length=32)] = None,
) -> AsyncIterator[ServerSentEvent]:
    resume_from = last_event_id_header or last_event_id
    subscription = svc.bus.subscribe(PUBLIC_TYPES | {RESET}, maxsize=svc.settings.subscriber_queue)
    # Subscribing and reading the buffer happen with no await in between: no gap, no repeat.
    missed = svc.bus.since(int(resume_from)) if resume_from and resume_from.isdigit() else None
    with subscription:
        if missed is not None:
            for event in missed:
                yield _to_sse(event)
        else:
            if resume_from:
                yield _reset("the events after your Last-Event-ID are no longer available")
            yield _snapshot(svc)
        async for event in subscription:
            if event.type == RESET:
                yield _reset("you fell behind the event stream")
                yield _snapshot(svc)
            else:
                yield _to_sse(event)
