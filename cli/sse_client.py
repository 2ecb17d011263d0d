"""Following a regwatch event stream from outside: the `regwatch events` client.

httpx-sse parses `text/event-stream` (multi-line `data:` joined, comments skipped);
`follow` keeps a stream open, reconnecting with `Last-Event-ID` (so nothing in the replay
buffer is missed) whenever the server restarts or the connection drops.
"""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse


@dataclass(frozen=True)
class StreamEvent:
    event: str
    id: int | None
    data: dict[str, Any]


def parse_event(sse: ServerSentEvent) -> StreamEvent | None:
    """A regwatch event from one SSE message (None for a message without data)."""
    if not sse.data:
        return None
    event_id = int(sse.id) if sse.id.isascii() and sse.id.isdecimal() else None
    return StreamEvent(sse.event, event_id, json.loads(sse.data))


def stream_events(url: str, last_event_id: int | None = None, timeout: float = 60.0) -> Iterator[StreamEvent]:
    """One connection's events; returns when the server ends the stream."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    # The read timeout outlasts the server's keep-alive comments, so a dead link is noticed.
    with (
        httpx.Client(timeout=httpx.Timeout(5.0, read=timeout)) as client,
        connect_sse(client, "GET", url, headers=headers) as source,
    ):
        source.response.raise_for_status()
        for sse in source.iter_sse():
            if (event := parse_event(sse)) is not None:
                yield event


def follow(
    url: str,
    on_event: Callable[[StreamEvent], None],
    on_disconnect: Callable[[Exception | None, float], None],
    max_backoff: float = 5.0,
) -> None:
    """Follow `url` forever, resuming from the last id seen after every disconnect."""
    last_id: int | None = None
    backoff = 0.2
    while True:
        error: Exception | None = None
        try:
            for event in stream_events(url, last_id):
                backoff = 0.2
                if event.id is not None:
                    last_id = event.id
                on_event(event)
        except (httpx.HTTPError, ValueError) as exc:  # httpx-sse's SSEError is an HTTPError
            error = exc
        on_disconnect(error, backoff)
        time.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)


def describe(event: StreamEvent) -> str:
    """One readable line per event."""
    data = event.data
    if event.event == "snapshot":
        names = ",".join(v["version"] for v in data.get("versions", [])) or "-"
        return f"snapshot  latest={data.get('latest')} serving={data.get('serving')} versions={names}"
    skip = {"type", "version", "at", "id", "metadata"}
    extras = " ".join(f"{k}={v}" for k, v in data.items() if k not in skip and v not in (None, [], ""))
    return f"{data.get('at', '')}  {event.event:<18} {data.get('version') or '-'}  {extras}".rstrip()
