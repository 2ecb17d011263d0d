"""How one replica joins a fleet: where NATS is, who it is, and the protocol's timings.

Names of the buckets and the stream derive from the fleet name, so two fleets can share
one NATS server without seeing each other.
"""

import os
import re
import socket
from dataclasses import dataclass, field

FLEET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A JetStream KV key (the replica's key in the members bucket): no leading or trailing dot.
REPLICA_ID = re.compile(r"^[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9_-])?$")


def default_replica_id() -> str:
    """`REGWATCH_REPLICA_ID`, else `<hostname>-<pid>` made safe for a KV key."""
    explicit = os.environ.get("REGWATCH_REPLICA_ID")
    if explicit:
        return explicit
    host = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-")[:100] or "replica"
    return f"{host}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Settings of one replica's fleet membership (all times in seconds)."""

    url: str
    name: str = "default"
    replica_id: str = field(default_factory=default_replica_id)
    # A member heartbeats every `heartbeat_interval`; `member_ttl` after its last one,
    # JetStream expires its entry and the others stop waiting for it.
    heartbeat_interval: float = 1.0
    member_ttl: float = 5.0
    # How long the fleet waits for a slow replica to load a new version before the
    # others flip without it (it then answers 503 until it has loaded the version).
    prepare_deadline: float = 30.0
    # How long a request is held while a flip is being committed; then it fails as not ready.
    hold_timeout: float = 2.0
    # Between attempts of the first connection (later ones are nats-py's reconnects).
    reconnect_wait: float = 0.5
    request_timeout: float = 2.0
    events_max_msgs: int = 100_000
    events_max_age: float = 7 * 24 * 3600.0
    max_record_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        if not FLEET_NAME.match(self.name):
            raise ValueError(f"fleet name {self.name!r} must match {FLEET_NAME.pattern}")
        if not REPLICA_ID.match(self.replica_id):
            raise ValueError(f"replica id {self.replica_id!r} must match {REPLICA_ID.pattern}")
        if self.heartbeat_interval <= 0 or self.member_ttl < 2 * self.heartbeat_interval:
            raise ValueError("member_ttl must be at least twice heartbeat_interval (and both positive)")
        if min(self.prepare_deadline, self.hold_timeout, self.reconnect_wait, self.request_timeout) <= 0:
            raise ValueError("prepare_deadline, hold_timeout, reconnect_wait and request_timeout must be > 0")

    @property
    def members_bucket(self) -> str:
        return f"regwatch-{self.name}-members"

    @property
    def active_bucket(self) -> str:
        return f"regwatch-{self.name}-active"

    @property
    def events_stream(self) -> str:
        return f"regwatch-{self.name}-events"

    @property
    def events_subject(self) -> str:
        return f"regwatch.{self.name}.events"
