"""What replicas write into the fleet's buckets, parsed strictly.

Anything read back from NATS is untrusted input: a value that does not parse, is too large
or names things outside the allowed alphabets raises `RecordError` and is ignored by the
caller (logged), never half-applied.
"""

import re
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .config import REPLICA_ID

Version = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,127}$")]
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME.pattern)]
ReplicaId = Annotated[str, StringConstraints(pattern=REPLICA_ID.pattern)]
Phase = Literal["fencing", "active"]


class RecordError(ValueError):
    """A value in a fleet bucket that is not a valid record."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Canary(_Record):
    """A canary and its share of default traffic (percent)."""

    version: Version
    percent: float = Field(gt=0, le=100)


class ModelReport(_Record):
    """One replica's state for one model."""

    desired: Version | None = None  # what this replica computed from the volume
    canary: Canary | None = None  # the canary it computed from the volume
    loaded: frozenset[Version] = Field(default=frozenset(), max_length=64)  # loaded and warmed
    serving: Version | None = None  # what it answers with now (None: holding or not ready)
    ready: bool = False  # it has the fleet's active version loaded
    fenced: int = Field(default=0, ge=0)  # revision of the last fence it acknowledged


class MemberRecord(_Record):
    """A replica's heartbeat: its key in the members bucket is its replica id."""

    replica: ReplicaId
    incarnation: str = Field(max_length=64)  # per process: two processes with one id show up
    at: str = Field(max_length=40)
    models: dict[ModelName, ModelReport] = Field(default_factory=dict, max_length=1024)

    def report(self, model: str) -> ModelReport:
        return self.models.get(model) or ModelReport()


class Pointer(_Record):
    """The value of `active.<model>`: what the fleet answers default traffic with (`version`,
    and `canary` for its share), or is switching to.

    `fencing`: every replica stops answering and acknowledges; `active`: every replica
    answers `version` (and `canary`). Only compare-and-set moves it.
    """

    version: Version
    canary: Canary | None = None
    phase: Phase
    previous: Version | None = None
    by: ReplicaId
    at: str = Field(max_length=40)


R = TypeVar("R", bound=_Record)


def decode(kind: type[R], data: bytes | None, limit: int) -> R:
    if data is None or len(data) > limit:
        raise RecordError(f"{kind.__name__}: missing or larger than {limit} bytes")
    try:
        return kind.model_validate_json(data)
    except ValidationError as exc:
        raise RecordError(
            f"{kind.__name__}: {exc.error_count()} invalid field(s): {exc.errors()[0]['msg']}"
        ) from None


def encode(record: _Record) -> bytes:
    return record.model_dump_json().encode()
