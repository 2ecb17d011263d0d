"""The fleet's public events in one JetStream stream, so any replica can resume any client.

The stream sequence is the SSE event id: it is the same on every replica, so a client that
reconnects to another replica with `Last-Event-ID: n` gets exactly the events after `n`,
replayed from the stream (durable, not a per-process buffer). An id the stream no longer
has (expired by its limits) or never issued raises `EventsLost`: the caller sends `reset`.
"""

import json
import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import nats.errors
from nats.js import JetStreamContext, api

from .config import FleetConfig

log = logging.getLogger("regwatch.fleet.events")


class EventsLost(Exception):
    """Events after `after` are not all in the stream any more (or never were)."""

    def __init__(self, after: int, first: int, last: int) -> None:
        super().__init__(f"event id {after} is outside the fleet stream's range {first}..{last}")
        self.after, self.first, self.last = after, first, last


def stream_config(config: FleetConfig) -> api.StreamConfig:
    return api.StreamConfig(
        name=config.events_stream,
        subjects=[config.events_subject],
        storage=api.StorageType.FILE,
        max_msgs=config.events_max_msgs,
        max_age=config.events_max_age,
        max_msg_size=config.max_record_bytes,
        discard=api.DiscardPolicy.OLD,
        duplicate_window=120.0,
    )


class FleetEvents:
    """Publish to and follow the fleet's event stream over one JetStream context."""

    def __init__(self, js: JetStreamContext, config: FleetConfig) -> None:
        self._js = js
        self._config = config

    async def publish(self, payload: Mapping[str, Any], dedup_key: str | None = None) -> int:
        """Append one event; return its sequence (the SSE id).

        Events every replica sees (a version added to the shared volume) pass the same
        `dedup_key` from each replica: JetStream keeps one within its duplicate window.
        """
        headers = {"Nats-Msg-Id": dedup_key} if dedup_key else None
        ack = await self._js.publish(
            self._config.events_subject,
            json.dumps(payload, separators=(",", ":"), default=str).encode(),
            timeout=self._config.request_timeout,
            stream=self._config.events_stream,
            headers=headers,
        )
        return ack.seq

    async def last_sequence(self) -> int:
        """The sequence of the newest event in the stream (0: none yet): a snapshot's id."""
        return int((await self._js.stream_info(self._config.events_stream)).state.last_seq)

    async def subscribe(self, after: int | None = None) -> AsyncGenerator[tuple[int, dict[str, Any]]]:
        """Yield `(sequence, payload)` for events after `after` (None: only new ones), forever."""
        config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.NEW)
        if after is not None:
            state = (await self._js.stream_info(self._config.events_stream)).state
            first = max(state.first_seq, 1)
            if after > state.last_seq or after < first - 1:
                raise EventsLost(after, first, state.last_seq)
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            )
        sub = await self._js.subscribe(
            self._config.events_subject,
            stream=self._config.events_stream,
            config=config,
            ordered_consumer=True,
            idle_heartbeat=self._config.heartbeat_interval,
        )
        try:
            async for msg in sub.messages:
                sequence = msg.metadata.sequence.stream
                if after is not None and sequence != after + 1:
                    raise EventsLost(after, sequence, sequence)
                after = sequence
                payload = _payload(msg.data)
                if payload is not None:
                    yield sequence, payload
        finally:
            try:
                await sub.unsubscribe()
            except (nats.errors.Error, OSError):
                pass  # the connection is gone, and the ephemeral consumer with it


def _payload(data: bytes) -> dict[str, Any] | None:
    """A JSON object, or None (logged) for anything else someone put on the subject."""
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        log.warning("ignoring a fleet event that is not a JSON object (%d bytes)", len(data))
        return None
    return payload
