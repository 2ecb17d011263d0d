"""Cluster mode's `GET /events`: the fleet's JetStream stream, resumable on any replica.

The SSE id of an event is its sequence in the stream, the same on every replica: a client
that reconnects to another replica with `Last-Event-ID: n` gets exactly the events after
`n`, replayed from the stream (durable, not a per-process buffer). A new client gets this
replica's snapshot with the stream's last sequence as its id, then every event after it.
An id the stream no longer holds (or never issued) gets `reset` and a fresh snapshot.

Each stream reads its own ordered JetStream consumer; the bus's keep-alive tick is merged
in, and the bus closing (the service stops) ends the stream. A NATS failure ends it too:
the client reconnects with its last id, to this replica or another.
"""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from regwatch.events import EventType, Subscription
from regwatch.fleet import EventsLost, Fleet, FleetEvents, FleetUnavailable
from regwatch.fleet.link import NATS_ERRORS
from regwatch.serving import ServedModel

from .sse import reset_event, resume_point, slices, snapshot_event
from .state import ServiceState

log = logging.getLogger("regwatch.api.events")

EVENT_NAME = re.compile(r"[a-z_]{1,40}")  # anyone with access to NATS can publish: check it
_TICK, _END = object(), object()
Item = tuple[int, dict[str, Any]] | Exception | object


def encode(sequence: int, payload: dict[str, Any]) -> bytes | None:
    name = payload.get("type")
    if not isinstance(name, str) or not EVENT_NAME.fullmatch(name):
        return None
    data = json.dumps({"id": sequence, **payload}, default=str)
    return format_sse_event(data_str=data, event=name, id=str(sequence))


async def _pump_events(events: FleetEvents, after: int, out: "asyncio.Queue[Item]") -> None:
    try:
        async with contextlib.aclosing(events.subscribe(after)) as stream:
            async for item in stream:
                await out.put(item)
    except (EventsLost, *NATS_ERRORS) as exc:
        await out.put(exc)


async def _pump_ticks(ticks: Subscription, out: "asyncio.Queue[Item]") -> None:
    async for _ in ticks:
        await out.put(_TICK)
    await out.put(_END)  # the bus closed: the service is stopping


async def _follow(
    events: FleetEvents, after: int, ticks: Subscription, queue_size: int, only: str | None
) -> AsyncGenerator[bytes | EventsLost | None]:
    """Encoded events after `after` (of model `only` and service-wide ones, when given),
    None for a keep-alive, then EventsLost or the end."""
    queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=queue_size)
    pumps = [
        asyncio.create_task(_pump_events(events, after, queue)),
        asyncio.create_task(_pump_ticks(ticks, queue)),
    ]
    try:
        while True:
            item = await queue.get()
            if item is _TICK:
                yield None
            elif isinstance(item, EventsLost):
                yield item
                return
            elif isinstance(item, Exception):
                log.warning("the fleet's event stream failed (%s): ending this client's stream", item)
                return
            elif isinstance(item, tuple):
                if only is not None and item[1].get("model") not in (None, only):
                    continue
                encoded = encode(*item)
                if encoded is not None:
                    yield encoded
            else:
                return  # _END
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)


async def fleet_stream(
    svc: ServiceState, fleet: Fleet, only: ServedModel | None, resume_from: str | None
) -> AsyncIterator[bytes | memoryview]:
    try:
        events = fleet.events
        after = resume_point(resume_from)
        if after is None:
            if resume_from:
                yield reset_event("the events after your Last-Event-ID are no longer available")
            after = await events.last_sequence()
            for piece in slices(snapshot_event(svc, only, after)):
                yield piece
        with svc.bus.subscribe({EventType.KEEPALIVE}) as ticks:
            while True:
                lost: EventsLost | None = None
                following = _follow(
                    events, after, ticks, svc.settings.subscriber_queue, only.name if only else None
                )
                async with contextlib.aclosing(following):  # a client gone stops its consumer now
                    async for item in following:
                        if isinstance(item, EventsLost):
                            lost = item
                        else:
                            yield KEEPALIVE_COMMENT if item is None else item
                if lost is None:
                    return
                yield reset_event("the events after your Last-Event-ID are no longer in the fleet's stream")
                after = await events.last_sequence()
                for piece in slices(snapshot_event(svc, only, after)):
                    yield piece
    except (FleetUnavailable, *NATS_ERRORS) as exc:
        log.warning("the fleet's event stream is unavailable (%s): ending this client's stream", exc)
