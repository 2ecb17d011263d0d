"""What a replica tells about the fleet: for `GET /fleet`, `/readyz` details and metrics."""

from dataclasses import asdict, dataclass, field
from typing import Any

from .records import Canary, MemberRecord


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """One model on this replica, as the fleet sees it."""

    model: str
    active: str | None  # the fleet's pointer (committed, or being switched to)
    canary: Canary | None  # the pointer's canary and its share
    phase: str | None  # "active", "fencing" or None (no pointer yet)
    answer: str | None  # what this replica answers with now (None: holding or refusing)
    answer_canary: Canary | None  # the canary it answers its share with now
    ready: bool
    reason: str | None  # why not ready

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (a canary as `{"version", "percent"}`)."""
        canaries = {
            "canary": self.canary.model_dump() if self.canary else None,
            "answer_canary": self.answer_canary.model_dump() if self.answer_canary else None,
        }
        return asdict(self) | canaries


@dataclass(slots=True)
class Counters:
    """Monotonic counts for metrics."""

    pointer_writes: int = 0  # fences and commits this replica won
    pointer_races_lost: int = 0  # compare-and-sets another replica won first
    reconnects: int = 0
    bad_records: int = 0  # values in the buckets that did not parse (ignored)


@dataclass(frozen=True, slots=True)
class FleetStatus:
    fleet: str
    replica: str
    connected: bool
    changed_at: str  # when `connected` last changed (ISO 8601 UTC)
    ready: bool
    models: tuple[ModelStatus, ...]
    members: tuple[MemberRecord, ...]
    counters: Counters = field(default_factory=Counters)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "fleet": self.fleet,
            "replica": self.replica,
            "connected": self.connected,
            "changed_at": self.changed_at,
            "ready": self.ready,
            "models": [model.as_dict() for model in self.models],
            "members": [member.model_dump(mode="json") for member in self.members],
            "counters": asdict(self.counters),
        }
