"""An in-process event bus for one asyncio loop.

Every event gets a monotonically increasing integer id. Ids start at the current time in
microseconds, so they keep increasing across restarts and a client that reconnects to a
new process with an old id is told to reset rather than handed the wrong events.

Publishing never waits: each subscriber has a bounded queue, and a subscriber that falls
behind so far that its queue fills is *lagged*: its backlog is dropped and it receives a
single `reset` event, after which it must re-read the state. A slow SSE client therefore
costs the bus nothing and never delays anybody else.

Closing the bus (the service is stopping) ends every subscription: a consumer reads what
was already queued and its `async for` then stops, so an SSE stream ends at once instead
of holding the server's graceful shutdown open.
"""

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Collection
from typing import Any

from .types import Event, EventType


class BusClosed(Exception):
    """The bus was closed: this subscription will never get another event."""


class Subscription:
    """One subscriber's bounded queue. Iterate it with `async for` (ends when the bus closes)."""

    def __init__(
        self, bus: "EventBus", types: Collection[EventType] | None, maxsize: int, model: str | None = None
    ) -> None:
        self._bus = bus
        self._types = frozenset(types) if types is not None else None
        self._model = model
        self._maxsize = maxsize
        # Unbounded underneath: `offer` enforces `maxsize`, so the end marker always fits.
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ended = False
        self.lagged = 0

    def wants(self, event: Event) -> bool:
        """Its types; with a model, that model's events and the service-wide ones."""
        return (self._types is None or event.type in self._types) and (
            self._model is None or event.model is None or event.model == self._model
        )

    def offer(self, event: Event) -> None:
        if self._queue.qsize() >= self._maxsize:
            self.lagged += 1
            while not self._queue.empty():
                self._queue.get_nowait()
            event = Event(event.id, EventType.RESET, data={"reason": "subscriber lagged"})
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        """The next event; raises `BusClosed` once the bus is closed and the queue is drained."""
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # stays ended for every later read
            raise BusClosed("the event bus is closed")
        return event

    def pending(self) -> int:
        return self._queue.qsize()

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                yield await self.get()
        except BusClosed:
            return

    def end(self) -> None:
        """Unsubscribe; readers get what is queued, then the end."""
        self.close()
        if not self._ended:
            self._ended = True
            self._queue.put_nowait(None)

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, buffer_size: int = 1024, queue_size: int = 256) -> None:
        self._first_id = self._next_id = time.time_ns() // 1000
        self._evicted_up_to = 0
        self._buffer: deque[Event] = deque(maxlen=buffer_size)
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop that owns the bus, for `publish_threadsafe`."""
        self._loop = loop

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(
        self, type: EventType, version: str | None = None, *, model: str | None = None, **data: Any
    ) -> Event:
        """Publish from the loop's own thread. Never blocks."""
        event = Event(self._next_id, type, version, model, data=data)
        self._next_id += 1
        if event.public:
            if len(self._buffer) == self._buffer.maxlen:
                self._evicted_up_to = self._buffer[0].id
            self._buffer.append(event)
        for subscriber in list(self._subscribers):
            if subscriber.wants(event):
                subscriber.offer(event)
        return event

    def publish_threadsafe(
        self, type: EventType, version: str | None = None, *, model: str | None = None, **data: Any
    ) -> None:
        """Publish from any other thread (the watcher's): hands the event to the loop."""
        if self._loop is None:
            raise RuntimeError("EventBus.bind(loop) must be called before publish_threadsafe")
        self._loop.call_soon_threadsafe(lambda: self.publish(type, version, model=model, **data))

    def subscribe(
        self, types: Collection[EventType] | None = None, maxsize: int | None = None, model: str | None = None
    ) -> Subscription:
        subscription = Subscription(self, types, maxsize or self._queue_size, model)
        if self.closed:
            subscription.end()
        else:
            self._subscribers.add(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription, now and to come. Publishing still works (into the
        replay buffer), so work that is finishing never fails for a closed bus."""
        self.closed = True
        for subscription in list(self._subscribers):
            subscription.end()

    def since(self, last_id: int) -> list[Event] | None:
        """Public events after `last_id`, or None when the caller must reset instead.

        None means some events after `last_id` are gone from the buffer, or the id was
        never issued by this process (a restart, or a client from elsewhere).
        """
        if last_id > self.last_id or last_id < self._first_id - 1 or last_id < self._evicted_up_to:
            return None
        return [event for event in self._buffer if event.id > last_id]
