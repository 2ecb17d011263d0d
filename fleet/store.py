"""The fleet's JetStream objects: two KV buckets and the events stream, created if missing.

Every replica creates them on every (re)connect: creation is idempotent for an identical
configuration, and a server that lost its store gets them back. An existing object with a
different configuration (another release changed a limit) is used as it is, with a warning.
"""

import logging
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError
from nats.js.kv import KeyValue

from .config import FleetConfig
from .stream import FleetEvents, stream_config

log = logging.getLogger("regwatch.fleet")

STREAM_NAME_IN_USE = 10058  # JetStream: "stream name already in use with a different configuration"


@dataclass(frozen=True, slots=True)
class Store:
    members: KeyValue  # key: replica id; value: MemberRecord; entries expire after member_ttl
    active: KeyValue  # key: active.<model>; value: Pointer; a short history for the audit
    events: FleetEvents


async def open_store(nc: Client, config: FleetConfig) -> Store:
    js = nc.jetstream(timeout=config.request_timeout)
    members = await _bucket(
        js,
        api.KeyValueConfig(
            bucket=config.members_bucket,
            ttl=config.member_ttl,
            # The server writes a marker when an entry expires: watchers see the member leave.
            limit_marker_ttl=config.member_ttl,
            max_value_size=config.max_record_bytes,
            storage=api.StorageType.FILE,
        ),
    )
    active = await _bucket(
        js,
        api.KeyValueConfig(
            bucket=config.active_bucket,
            history=16,
            max_value_size=config.max_record_bytes,
            storage=api.StorageType.FILE,
        ),
    )
    try:
        await js.add_stream(stream_config(config))
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
        log.warning("fleet stream %s exists with another configuration; using it", config.events_stream)
    return Store(members, active, FleetEvents(js, config))


async def _bucket(js: JetStreamContext, config: api.KeyValueConfig) -> KeyValue:
    try:
        return await js.create_key_value(config)
    except BadRequestError as exc:
        if exc.err_code != STREAM_NAME_IN_USE:
            raise
        log.warning("fleet bucket %s exists with another configuration; using it", config.bucket)
        return await js.key_value(config.bucket)
