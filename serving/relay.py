"""Cluster mode: this replica's public events, from its bus into the fleet's event stream.

Events keep flowing through the in-process bus (metrics, the live model and the tests
follow it); the relay copies each public one into the JetStream stream that `/events`
serves in cluster mode, marked with the replica and the model. Every replica sees the same
volume change and publishes an event about it: those carry the change's id (`change_id`,
the same on every replica), which becomes the stream's de-duplication key, so the stream
keeps one. What one replica did (loaded a model, failed to) is published without a key.

While NATS is unreachable, events wait in the relay's bus queue (`queue_size`) and are
published once it is back; a longer outage overflows the queue, and what the stream then
misses is counted (`unpublished`), as is a publish NATS refuses.
"""

import hashlib
import json
import logging
from typing import Any

from regwatch.events import PUBLIC_TYPES, EventBus, EventType
from regwatch.fleet import Fleet, FleetUnavailable
from regwatch.fleet.link import NATS_ERRORS

log = logging.getLogger("regwatch.relay")

# Events every replica publishes about the same change of the shared volume.
SHARED = frozenset(
    {
        EventType.VERSION_ADDED,
        EventType.VERSION_UPDATED,
        EventType.VERSION_REMOVED,
        EventType.VERSION_REJECTED,
        EventType.LATEST_CHANGED,
        EventType.MODEL_ADDED,
        EventType.MODEL_REMOVED,
        EventType.MODEL_REJECTED,
        "release_changed",
    }
)
PER_REPLICA = ("at", "replica")  # differ between replicas publishing the same change


def dedup_key(payload: dict[str, Any]) -> str | None:
    """The stream's de-duplication key of an event every replica publishes; None otherwise."""
    kind = payload["type"]
    if kind not in SHARED:
        return None
    change = payload.get("change_id")
    if change is None:  # an event without one: its contents name it
        same = {key: value for key, value in payload.items() if key not in PER_REPLICA}
        change = hashlib.blake2b(json.dumps(same, sort_keys=True, default=str).encode(), digest_size=8)
        change = change.hexdigest()
    return f"{kind}:{payload['model']}:{payload.get('version')}:{change}"


class EventRelay:
    def __init__(self, bus: EventBus, fleet: Fleet, queue_size: int = 10_000) -> None:
        self.bus = bus
        self.fleet = fleet
        self.queue_size = queue_size
        self.published = 0
        self.unpublished = 0  # events the stream misses: NATS unreachable, refused, or lagged

    async def run(self) -> None:
        with self.bus.subscribe(PUBLIC_TYPES, maxsize=self.queue_size) as events:
            await self.fleet.joined()  # events of the start wait in the queue meanwhile
            async for event in events:
                if event.type is EventType.RESET:  # the relay fell behind: the bus dropped a backlog
                    self.unpublished += 1
                    log.warning("the fleet's event stream misses events: the relay fell behind")
                    continue
                await self.fleet.online()  # while NATS is away, events wait in the queue
                await self._publish(event.payload())

    async def _publish(self, payload: dict[str, Any]) -> None:
        payload["replica"] = self.fleet.config.replica_id
        limit = self.fleet.config.max_record_bytes
        if "metadata" in payload and len(json.dumps(payload, default=str)) > limit:
            # The stream takes events up to the record limit; metadata may be up to 1 MiB.
            payload["metadata"], payload["metadata_omitted"] = {}, True
        try:
            await self.fleet.events.publish(payload, dedup_key(payload))
        except (FleetUnavailable, ValueError, *NATS_ERRORS) as exc:
            self.unpublished += 1
            log.warning("event %s not in the fleet's stream: %s", payload["type"], exc)
            return
        self.published += 1
