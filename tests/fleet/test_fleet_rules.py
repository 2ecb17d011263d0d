"""The protocol's decisions and the gate, without NATS (they are pure or loop-local)."""

import asyncio
import json

import pytest

from regwatch.fleet import Canary, FleetConfig, FleetNotReady, MemberRecord, ModelReport, Pointer, RecordError
from regwatch.fleet.gate import ModelGate
from regwatch.fleet.records import decode, encode
from regwatch.fleet.rules import Active, Target, next_step

V1 = Active(Target("1.0.0"), "active", None, 1)
FENCE = Active(Target("2.0.0"), "fencing", "1.0.0", 7)


def member(
    name: str, desired: str | Target | None = None, loaded: tuple[str, ...] = (), fenced: int = 0
) -> MemberRecord:
    wanted = Target(desired) if isinstance(desired, str) else desired
    report = ModelReport(
        desired=wanted.version if wanted else None,
        canary=wanted.canary if wanted else None,
        loaded=frozenset(loaded),
        fenced=fenced,
    )
    return MemberRecord(replica=name, incarnation="i", at="t", models={"default": report})


def step(
    active: Active | None, desired: str | Target | None, members: list[MemberRecord], late: bool = False
):
    wanted = Target(desired) if isinstance(desired, str) else desired
    return next_step("default", active, wanted, "a", {m.replica: m for m in members}, late)


def test_a_fence_waits_for_every_live_member_to_be_prepared() -> None:
    ready = [member("a", "2.0.0", ("1.0.0", "2.0.0")), member("b", "2.0.0", ("2.0.0",))]
    assert step(V1, "2.0.0", [*ready, member("c", "2.0.0", ("1.0.0",))]) is None
    fence = step(V1, "2.0.0", ready)
    assert fence is not None and (fence.phase, fence.target, fence.previous, fence.expected) == (
        "fencing",
        Target("2.0.0"),
        "1.0.0",
        V1,
    )


def test_after_the_deadline_half_of_the_members_go_ahead_but_never_a_lone_one() -> None:
    slow = member("c", "2.0.0", ("1.0.0",))
    two_of_three = [member("a", "2.0.0", ("2.0.0",)), member("b", "2.0.0", ("2.0.0",)), slow]
    assert step(V1, "2.0.0", two_of_three, late=True) is not None
    one_of_three = [member("a", "2.0.0", ("2.0.0",)), member("b", "1.0.0", ("1.0.0",)), slow]
    assert step(V1, "2.0.0", one_of_three, late=True) is None


def test_only_a_replica_that_has_the_version_and_sees_its_own_entry_proposes() -> None:
    assert step(V1, "2.0.0", [member("a", "2.0.0", ())]) is None
    assert step(V1, "2.0.0", [member("b", "2.0.0", ("2.0.0",))]) is None  # own entry not seen yet
    assert step(V1, "1.0.0", [member("a", "1.0.0", ("1.0.0",))]) is None  # already active


def test_the_first_pointer_is_written_active_and_a_commit_needs_every_ack() -> None:
    first = step(None, "1.0.0", [member("a", "1.0.0", ("1.0.0",))])
    assert first is not None and (first.phase, first.expected) == ("active", None)
    acked = [member("a", fenced=7), member("b", fenced=7)]
    assert step(FENCE, "3.0.0", [*acked, member("c", fenced=3)]) is None
    commit = step(FENCE, "3.0.0", acked)
    assert commit is not None and (commit.phase, commit.target, commit.expected) == (
        "active",
        Target("2.0.0"),
        FENCE,
    )


def test_a_canary_is_a_change_of_target_fenced_once_every_member_has_it() -> None:
    with_canary = Target("1.0.0", Canary(version="2.0.0", percent=10))
    both = ("1.0.0", "2.0.0")
    ready = [member("a", with_canary, both), member("b", with_canary, both)]
    assert step(V1, with_canary, [*ready, member("c", with_canary, ("1.0.0",))]) is None  # c lacks it
    assert step(V1, with_canary, [*ready, member("c", "1.0.0", both)]) is None  # c's volume: no canary yet
    fence = step(V1, with_canary, ready)
    assert fence is not None and (fence.phase, fence.target, fence.previous) == (
        "fencing",
        with_canary,
        "1.0.0",
    )
    in_force = Active(with_canary, "active", "1.0.0", 9)
    assert step(in_force, with_canary, ready) is None
    resized = Target("1.0.0", Canary(version="2.0.0", percent=50))
    assert step(in_force, resized, [member("a", resized, both), member("b", resized, both)]) is not None
    stopped = [member("a", "1.0.0", both), member("b", "1.0.0", ("1.0.0",))]
    stop = step(in_force, "1.0.0", stopped)
    assert stop is not None and (stop.phase, stop.target) == ("fencing", Target("1.0.0"))


def test_records_from_the_bucket_are_parsed_strictly() -> None:
    record = member("a", "1.0.0", ("1.0.0",))
    assert decode(MemberRecord, encode(record), 1024) == record
    for bad in [
        b"[]",
        b"{}",
        b"\xff",
        encode(record).replace(b'"a"', b'"../x"'),
        encode(record)[:-1] + b',"x":1}',
    ]:
        with pytest.raises(RecordError):
            decode(MemberRecord, bad, 1024)
    with pytest.raises(RecordError, match="larger than"):
        decode(MemberRecord, encode(record), 10)
    with pytest.raises(RecordError):
        decode(Pointer, b'{"version": "1.0.0", "phase": "done", "by": "a", "at": "t"}', 1024)
    for percent in [0, 101, "10"]:
        canary = {"version": "2.0.0", "percent": percent}
        with pytest.raises(RecordError):
            decode(ModelReport, json.dumps({"desired": "1.0.0", "canary": canary}).encode(), 1024)


def test_config_refuses_names_that_are_not_safe_keys() -> None:
    for bad in [{"name": "a.b"}, {"replica_id": "a b"}, {"replica_id": ".a"}, {"member_ttl": 0.5}]:
        with pytest.raises(ValueError):
            FleetConfig(url="nats://127.0.0.1:4222", **bad)


async def test_the_gate_holds_requests_through_a_fence_and_releases_them_on_commit() -> None:
    gate = ModelGate("default", hold_timeout=10)
    loaded = frozenset({"1.0.0", "2.0.0"})
    gate.update(V1, loaded, current=True)
    async with gate.enter() as target:
        assert target == Target("1.0.0")
        gate.update(FENCE, loaded, current=True)
        drained = asyncio.ensure_future(gate.drained())
        held = asyncio.ensure_future(gate.acquire())
        await asyncio.sleep(0)
        assert not drained.done() and not held.done()  # 1.0.0 still in flight; new request held
    await drained
    assert not held.done()
    gate.update(Active(Target("2.0.0"), "active", "1.0.0", 8), loaded, current=True)
    assert await held == Target("2.0.0")


async def test_the_gate_refuses_at_once_what_it_cannot_answer_soon() -> None:
    gate = ModelGate("default", hold_timeout=10)
    with pytest.raises(FleetNotReady, match="no active version"):
        await gate.acquire()
    gate.update(Active(Target("2.0.0"), "active", "1.0.0", 8), frozenset({"1.0.0"}), current=True)
    with pytest.raises(FleetNotReady, match="not loaded here"):
        await gate.acquire()
    assert not gate.ready
    with_canary = Target("1.0.0", Canary(version="2.0.0", percent=10))
    gate.update(Active(with_canary, "active", None, 9), frozenset({"1.0.0"}), current=True)
    with pytest.raises(FleetNotReady, match=r"2\.0\.0 is not loaded here"):
        await gate.acquire()  # it cannot answer the canary's share
    gate.update(Active(with_canary, "active", None, 9), frozenset({"1.0.0", "2.0.0"}), current=True)
    assert await gate.acquire() == with_canary


async def test_a_held_request_fails_as_not_ready_when_no_commit_comes() -> None:
    gate = ModelGate("default", hold_timeout=0.05)
    gate.update(V1, frozenset({"1.0.0"}), current=False)  # reconnected, pointers not re-read
    with pytest.raises(FleetNotReady, match="re-reading the fleet"):
        await gate.acquire()
