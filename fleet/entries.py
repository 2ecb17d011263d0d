"""Watch entries of the two buckets, turned into what the protocol uses (or RecordError).

A key and its value must agree (a record under another replica's key is a lie), a pointer
key must name a model, and a deleted or purged key is an absence, not an error.
"""

from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from .records import MODEL_NAME, MemberRecord, Pointer, RecordError, decode
from .rules import Active, Target

POINTER_PREFIX = "active."


def removed(entry: KeyValue.Entry) -> bool:
    """A delete marker: the replica left, or the server expired its entry (TTL)."""
    return entry.operation in (KV_DEL, KV_PURGE)


def member(entry: KeyValue.Entry, limit: int) -> MemberRecord:
    record = decode(MemberRecord, entry.value, limit)
    if record.replica != entry.key:
        raise RecordError(f"the record under {entry.key!r} names replica {record.replica!r}")
    return record


def pointer(entry: KeyValue.Entry, limit: int) -> tuple[str, Active | None]:
    """(model, its pointer; None once deleted)."""
    model = entry.key.removeprefix(POINTER_PREFIX)
    if not MODEL_NAME.match(model):
        raise RecordError(f"{entry.key!r} does not name a model")
    if removed(entry):
        return model, None
    value = decode(Pointer, entry.value, limit)
    target = Target(value.version, value.canary)
    return model, Active(target, value.phase, value.previous, entry.revision or 0)
