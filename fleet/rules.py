"""The switching protocol's decisions, as pure functions of what a replica has seen.

A flip of model `m` from `v1` to `v2` takes two compare-and-sets on `active.m`:

1. **fence** (`active v1` → `fencing v2`) once every live member wants `v2` (computed from
   the shared volume) and reports it loaded and warmed; or, once the prepare deadline
   passed, when at least half of them do (the rest go ahead without the slow ones; a lone
   replica with another view of the volume never moves the fleet). On seeing the fence,
   every replica stops answering `v1` (requests are held, not failed), lets in-flight `v1`
   requests finish and acknowledges the fence's revision in its member record.
2. **commit** (`fencing v2` → `active v2`) once every live member acknowledged. Only then
   does any replica answer `v2`: so none still answers `v1` after any answered `v2`.

Any replica may do either step; JetStream's expected-last-sequence check lets exactly one
of several racing writers win. The commit step must read every acknowledgement, the
committer's own included, from the members stream: a replica that joined before a fence
was written is then seen before the acknowledgements written after it (one stream, one
order), so it is waited for.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from .records import MemberRecord, Phase


@dataclass(frozen=True, slots=True)
class Active:
    """`active.<model>` as last seen, with its KV revision (the fence's identity)."""

    version: str
    phase: Phase
    previous: str | None
    revision: int

    @property
    def fencing(self) -> bool:
        return self.phase == "fencing"


@dataclass(frozen=True, slots=True)
class Step:
    """A compare-and-set to attempt: write `phase`/`version` if the pointer is still `expected`."""

    model: str
    version: str
    phase: Phase
    previous: str | None
    expected: Active | None


def next_step(
    model: str,
    active: Active | None,
    desired: str | None,
    me: str,
    members: Mapping[str, MemberRecord],
    deadline_passed: bool,
) -> Step | None:
    """What this replica should write to `active.<model>` now, if anything."""
    if active is not None and active.fencing:
        if all(record.report(model).fenced == active.revision for record in members.values()):
            return Step(model, active.version, "active", active.previous, active)
        return None
    if desired is None or (active is not None and active.version == desired):
        return None
    mine = members.get(me)
    if mine is None or not prepared(mine, model, desired):
        return None  # only a replica that can serve the version proposes it
    agreeing = sum(prepared(record, model, desired) for record in members.values())
    if agreeing < len(members) and not (deadline_passed and 2 * agreeing >= len(members)):
        return None
    if active is None:
        # Nobody answers before the first pointer exists, so there is nothing to fence.
        return Step(model, desired, "active", None, None)
    return Step(model, desired, "fencing", active.version, active)


def prepared(record: MemberRecord, model: str, version: str) -> bool:
    """Does this member want `version` and have it loaded and warmed?"""
    report = record.report(model)
    return report.desired == version and version in report.loaded


def answer(active: Active | None, loaded: frozenset[str]) -> str | None:
    """The version this replica may answer with now (None: hold or refuse)."""
    if active is None or active.fencing or active.version not in loaded:
        return None
    return active.version
