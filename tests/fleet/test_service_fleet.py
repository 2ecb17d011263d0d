"""Cluster mode of the real service: `regwatch serve` replicas on one shared registry folder,
a real nats-server, and a client that round-robins them over HTTP."""

import subprocess
import sys

import pytest
from replicas import released_after_three_rounds, round_robin
from support.gated_model import LOAD_GATE_ENV, LoadGate, load_gated_model
from support.models import publish
from support.sse import SseEvent, SseStream


def all_answer(version: str, count: int):
    return lambda last: len(last) == count and all(answer == version for answer in last.values())


def answers_of(seen: list[tuple[str, str | None]], *ids: str) -> list[str | None]:
    return [answer for who, answer in seen if who in ids]


@pytest.mark.parametrize(
    "deadline", ["60", "1"], ids=["slow-replica-within-the-deadline", "slow-replica-beyond-the-deadline"]
)
def test_no_client_gets_an_older_version_after_a_newer_one(root, tmp_path, service_replica, deadline) -> None:
    gate = LoadGate(tmp_path / "gate")
    publish(root, "1.0.0")
    common = {"REGWATCH_FLEET_PREPARE_DEADLINE": deadline}
    fast = [service_replica(f"fast{i}", **common) for i in range(2)]
    slow = service_replica("slow", **common, **{LOAD_GATE_ENV: str(gate.path)})
    replicas = [*fast, slow]
    for replica in replicas:
        replica.wait_serving("1.0.0")

    publish(root, "2.0.0", model=load_gated_model())
    gate.wait_blocked()  # the slow replica is loading 2.0.0, and stays at it
    for replica in fast:
        replica.wait_prepared("2.0.0")

    if deadline == "60":
        # Everybody waits for the slow one: the fleet answers 1.0.0 until it has 2.0.0 too.
        seen = round_robin(replicas, released_after_three_rounds(gate, all_answer("2.0.0", 3)))
        assert answers_of(seen, "fast0", "fast1", "slow")[:9] == ["1.0.0"] * 9
        assert None not in answers_of(seen, "fast0", "fast1", "slow")  # nobody was left behind
    else:
        # Past the deadline the fast two go ahead; the slow one refuses (503) rather than
        # answer 1.0.0 after a client saw 2.0.0, and load balancers drop it.
        left_behind = {"fast0": "2.0.0", "fast1": "2.0.0", "slow": None}
        seen = round_robin(replicas, lambda last: last == left_behind)
        readiness = slow.client.get("/readyz")
        assert readiness.status_code == 503
        (model,) = readiness.json()["fleet"]["models"]
        assert (model["active"], model["ready"]) == ("2.0.0", False)
        assert "not loaded here" in readiness.json()["reason"]
        assert fast[0].client.get("/readyz").status_code == 200
        seen += round_robin(replicas, released_after_three_rounds(gate, all_answer("2.0.0", 3)))
        assert slow.client.get("/readyz").status_code == 200
        assert None not in answers_of(seen, "fast0", "fast1")
    assert [replica.served_versions() for replica in replicas] == [["1.0.0", "2.0.0"]] * 3


def test_a_replica_killed_mid_rollout_is_left_behind_after_its_ttl(root, tmp_path, service_replica) -> None:
    gate = LoadGate(tmp_path / "gate")
    publish(root, "1.0.0")
    common = {"REGWATCH_FLEET_PREPARE_DEADLINE": "600"}
    survivors = [service_replica(f"r{i}", **common) for i in range(2)]
    doomed = service_replica("doomed", **common, **{LOAD_GATE_ENV: str(gate.path)})
    for replica in [*survivors, doomed]:
        replica.wait_serving("1.0.0")

    publish(root, "2.0.0", model=load_gated_model())
    gate.wait_blocked()
    for replica in survivors:
        replica.wait_prepared("2.0.0")
    assert [replica.answer() for replica in [*survivors, doomed]] == ["1.0.0"] * 3  # waiting for it
    doomed.kill()

    # With a 600 s prepare deadline, only the expiry of its member entry lets them go ahead.
    seen = round_robin(survivors, all_answer("2.0.0", 2))
    assert None not in answers_of(seen, "r0", "r1")
    assert survivors[0].members() == {"r0", "r1"}
    gate.release()


def test_a_restarted_replica_serves_the_fleet_version_not_its_own(root, tmp_path, service_replica) -> None:
    gate = LoadGate(tmp_path / "gate")
    publish(root, "1.0.0")
    first = service_replica("r0", **{LOAD_GATE_ENV: str(gate.path), "REGWATCH_FLEET_PREPARE_DEADLINE": "600"})
    second = service_replica("r1")
    for replica in (first, second):
        replica.wait_serving("1.0.0")
    second.stop()

    publish(root, "2.0.0")  # while r1 is away: r0 switches alone
    first.wait_serving("2.0.0")
    publish(root, "3.0.0", model=load_gated_model())  # r0 loads it slowly: the fleet stays on 2.0.0
    gate.wait_blocked()

    back = service_replica("r1")  # its own idea is 3.0.0, the latest on the volume
    back.wait_prepared("3.0.0")
    assert back.answer() == "2.0.0" and first.answer() == "2.0.0"
    assert back.served_versions() == ["2.0.0"]  # never 1.0.0 (it caught up), nor 3.0.0 (its own)
    assert back.fleet()["models"][0]["active"] == "2.0.0"

    seen = round_robin([first, back], released_after_three_rounds(gate, all_answer("3.0.0", 2)))
    assert None not in answers_of(seen, "r0", "r1")
    assert back.served_versions() == ["2.0.0", "3.0.0"]


def test_nats_down_keeps_serving_and_flips_only_when_it_is_back(root, service_replica, nats_server) -> None:
    publish(root, "1.0.0")
    replicas = [service_replica(f"r{i}") for i in range(3)]
    for replica in replicas:
        replica.wait_serving("1.0.0")

    nats_server.stop()
    for replica in replicas:
        replica.wait_for_line(lambda line: "lost NATS" in line)
    publish(root, "2.0.0")
    for replica in replicas:
        replica.wait_prepared("2.0.0")
    for replica in replicas:
        # Everything is loaded everywhere, yet nothing flips without NATS; all keep serving.
        assert replica.answer() == "1.0.0"
        status = replica.fleet()
        assert status["connected"] is False and status["models"][0]["answer"] == "1.0.0"
        readiness = replica.client.get("/readyz")
        assert readiness.status_code == 200 and readiness.json()["fleet"]["connected"] is False
        assert "regwatch_fleet_connected 0.0" in replica.client.get("/metrics").text
    shown = regwatch_fleet(replicas[0].url)
    assert "seen from r0: NATS UNREACHABLE since" in shown
    assert "model default: fleet version 1.0.0 (active); answers here with 1.0.0" in shown

    nats_server.start()
    seen = round_robin(replicas, all_answer("2.0.0", 3))
    assert None not in answers_of(seen, "r0", "r1", "r2")
    for replica in replicas:
        assert replica.fleet()["connected"] is True
        assert "regwatch_fleet_connected 1.0" in replica.client.get("/metrics").text
    shown = regwatch_fleet(replicas[1].url)
    assert "seen from r1: connected, ready" in shown
    assert all(f"  r{i} " in shown for i in range(3))  # a row per replica


def regwatch_fleet(url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "regwatch.cli", "fleet", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_events_resume_on_another_replica_from_its_last_event_id(root, service_replica) -> None:
    publish(root, "1.0.0")
    a, b = service_replica("r0"), service_replica("r1")
    for replica in (a, b):
        replica.wait_serving("1.0.0")
    async with SseStream(a.url) as first:
        assert (await first.next()).event == "snapshot"
        publish(root, "2.0.0")
        mark = (await first.wait_for("version_added", "2.0.0")).id
    for replica in (a, b):  # else 3.0.0 may overtake it, and the fleet go 1.0.0 -> 3.0.0 at once
        replica.wait_serving("2.0.0")
    publish(root, "3.0.0")  # while the client is away

    def loaded_everywhere(events: list[SseEvent], version: str) -> bool:
        return {
            event.data["replica"]
            for event in events
            if (event.event, event.version) == ("model_loaded", version)
        } == {"r0", "r1"}

    # An id issued through r0, resumed on r1: exactly the events after it, from the stream.
    async with SseStream(b.url, last_event_id=mark) as resumed:
        missed: list[SseEvent] = []
        while not loaded_everywhere(missed, "3.0.0"):
            missed.append(await resumed.next())
    assert [event.id for event in missed] == list(range(mark + 1, mark + 1 + len(missed)))
    kinds = [(event.event, event.version) for event in missed]
    # Both replicas saw each folder appear: the stream kept one event of each change.
    assert kinds.count(("version_added", "3.0.0")) == 1 and kinds.count(("latest_changed", "3.0.0")) == 1
    assert kinds.count(("model_loaded", "2.0.0")) == 2 and kinds.count(("model_loaded", "3.0.0")) == 2
    async with SseStream(a.url, last_event_id=mark) as again:
        assert [await again.next() for _ in missed] == missed  # the same on any replica

    for stale in (str(missed[-1].id + 1000), "1790000000000000"):  # never issued; a bus id
        async with SseStream(b.url, last_event_id=int(stale)) as lost:
            assert (await lost.next()).event == "reset"
            snapshot = await lost.next()
            assert snapshot.event == "snapshot" and snapshot.data["serving"] == "3.0.0"


def test_a_promote_goes_live_on_every_replica_as_one(root, service_replica) -> None:
    """A release change switches the fleet like a new version does: after the promote back
    to 1.0.0, once any replica answered 1.0.0, no replica answers 2.0.0 again."""
    from support.cli import regwatch

    publish(root, "1.0.0")
    publish(root, "2.0.0")
    replicas = [service_replica(f"r{i}") for i in range(3)]
    round_robin(replicas, all_answer("2.0.0", 3))

    promoted = regwatch("promote", "1.0.0", "--registry", str(root))
    assert promoted.returncode == 0, promoted.stderr
    seen: list[tuple[str, str | None]] = []

    def promoted_everywhere(last: dict[str, str | None]) -> bool:
        return all(answer == "1.0.0" for answer in last.values())

    for _ in range(200):  # ask each in turn; the old answer never comes back after the new one
        for replica in replicas:
            seen.append((replica.id, replica.answer()))
        if promoted_everywhere(dict(seen[-3:])):
            break
    answers = [answer for _, answer in seen]
    assert answers[-3:] == ["1.0.0"] * 3, answers
    first_new = answers.index("1.0.0")
    assert "2.0.0" not in answers[first_new:], answers
    for replica in replicas:
        fleet = replica.fleet()
        (model,) = fleet["models"]
        assert (model["active"], model["answer"]) == ("1.0.0", "1.0.0")
