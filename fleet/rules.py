"""The switching protocol's decisions, as pure functions of what a replica has seen.

What default traffic of model `m` answers with is a `Target`: the stable version and, while a
canary runs, the canary and its share. A change of target (a new version, a promote or a
rollback, a canary started, resized or stopped) takes two compare-and-sets on `active.m`:

1. **fence** (`active t1` → `fencing t2`) once every live member wants `t2` (computed from
   the shared volume) and reports its versions loaded and warmed; or, once the prepare
   deadline passed, when at least half of them do (the rest go ahead without the slow ones;
   a lone replica with another view of the volume never moves the fleet). On seeing the
   fence, every replica stops answering with `t1` (requests are held, not failed), lets
   in-flight requests finish and acknowledges the fence's revision in its member record.
2. **commit** (`fencing t2` → `active t2`) once every live member acknowledged. Only then
   does any replica answer with `t2`: so none still answers with `t1` after any answered
   with `t2` (a routing key the canary took never goes back to stable on another replica).

Any replica may do either step; JetStream's expected-last-sequence check lets exactly one
of several racing writers win. The commit step must read every acknowledgement, the
committer's own included, from the members stream: a replica that joined before a fence
was written is then seen before the acknowledgements written after it (one stream, one
order), so it is waited for.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from .records import Canary, MemberRecord, ModelReport, Phase


@dataclass(frozen=True, slots=True)
class Target:
    """What default traffic answers with: `version`, and `canary` for its share."""

    version: str
    canary: Canary | None = None

    @property
    def versions(self) -> frozenset[str]:
        """Every version a replica must have loaded to answer with this target."""
        return frozenset({self.version, *([self.canary.version] if self.canary else [])})

    @classmethod
    def wanted_by(cls, report: ModelReport) -> "Target | None":
        return None if report.desired is None else cls(report.desired, report.canary)


@dataclass(frozen=True, slots=True)
class Active:
    """`active.<model>` as last seen, with its KV revision (the fence's identity)."""

    target: Target
    phase: Phase
    previous: str | None
    revision: int

    @property
    def version(self) -> str:
        return self.target.version

    @property
    def fencing(self) -> bool:
        return self.phase == "fencing"


@dataclass(frozen=True, slots=True)
class Step:
    """A compare-and-set to attempt: write `phase`/`target` if the pointer is still `expected`."""

    model: str
    target: Target
    phase: Phase
    previous: str | None
    expected: Active | None


def next_step(
    model: str,
    active: Active | None,
    desired: Target | None,
    me: str,
    members: Mapping[str, MemberRecord],
    deadline_passed: bool,
) -> Step | None:
    """What this replica should write to `active.<model>` now, if anything."""
    if active is not None and active.fencing:
        if all(record.report(model).fenced == active.revision for record in members.values()):
            return Step(model, active.target, "active", active.previous, active)
        return None
    if desired is None or (active is not None and active.target == desired):
        return None
    mine = members.get(me)
    if mine is None or not prepared(mine, model, desired):
        return None  # only a replica that can serve the target proposes it
    agreeing = sum(prepared(record, model, desired) for record in members.values())
    if agreeing < len(members) and not (deadline_passed and 2 * agreeing >= len(members)):
        return None
    if active is None:
        # Nobody answers before the first pointer exists, so there is nothing to fence.
        return Step(model, desired, "active", None, None)
    return Step(model, desired, "fencing", active.version, active)


def prepared(record: MemberRecord, model: str, target: Target) -> bool:
    """Does this member want `target` and have its versions loaded and warmed?"""
    report = record.report(model)
    return Target.wanted_by(report) == target and target.versions <= report.loaded


def answer(active: Active | None, loaded: frozenset[str]) -> Target | None:
    """What this replica may answer with now (None: hold or refuse)."""
    if active is None or active.fencing or not active.target.versions <= loaded:
        return None
    return active.target
