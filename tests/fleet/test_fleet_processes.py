"""The fleet with real replica processes and a real nats-server on 127.0.0.1."""

import pytest
from replicas import assert_switched_as_one, round_robin

FAST = ("--member-ttl", "1", "--heartbeat", "0.2")


def all_answer(version: str, count: int):
    return lambda last: len(last) == count and all(answer == version for answer in last.values())


def test_a_fleet_starts_on_the_version_every_replica_wants(replica) -> None:
    replicas = [replica(f"r{i}", "--want", "default=1.0.0", *FAST) for i in range(3)]
    for process in replicas:
        process.wait_answering("1.0.0")
    assert all(process.status()["ready"] for process in replicas)
    assert {m["replica"] for m in replicas[0].status()["members"]} == {"r0", "r1", "r2"}


@pytest.mark.parametrize(
    ("slow_delay", "deadline"),
    [("1.5", "60"), ("4", "0.5")],
    ids=["slow-replica-within-the-deadline", "slow-replica-beyond-the-deadline"],
)
def test_no_client_gets_an_older_version_after_a_newer_one(replica, slow_delay: str, deadline: str) -> None:
    common = ("--want", "default=1.0.0", "--prepare-deadline", deadline, *FAST)
    fast = [replica(f"fast{i}", *common, "--load-delay", "0.05") for i in range(2)]
    slow = replica("slow", *common, "--load-delay", slow_delay)
    replicas = [*fast, slow]
    for process in replicas:
        process.wait_answering("1.0.0")

    for process in replicas:
        process.want("2.0.0")
    seen = round_robin(replicas, all_answer("2.0.0", 3))
    assert_switched_as_one(replicas, "1.0.0", "2.0.0")

    answers = [answer for _, answer in seen]
    assert "1.0.0" in answers and "2.0.0" in answers  # the loop saw the switch happen
    slow_answers = [answer for who, answer in seen if who == "slow"]
    if float(slow_delay) > float(deadline):
        # The others went ahead; meanwhile the slow one refused (503) rather than answer 1.0.0.
        assert None in slow_answers
        assert None not in [answer for who, answer in seen if who != "slow"]
    else:
        # Everybody waited for the slow one: nobody answered 2.0.0 before it could.
        assert None not in answers


def test_a_replica_killed_mid_rollout_is_left_behind_after_its_ttl(replica) -> None:
    common = ("--want", "default=1.0.0", "--prepare-deadline", "600", *FAST)
    survivors = [replica(f"r{i}", *common, "--load-delay", "0.05") for i in range(2)]
    doomed = replica("doomed", *common, "--load-delay", "600")
    for process in [*survivors, doomed]:
        process.wait_answering("1.0.0")

    for process in [*survivors, doomed]:
        process.want("2.0.0")
    for process in survivors:
        process.wait_loaded("2.0.0")
    assert all(process.answer() == "1.0.0" for process in survivors)  # waiting for `doomed`
    doomed.kill()

    # With a 600 s prepare deadline, only the expiry of doomed's entry lets them go ahead.
    for process in survivors:
        process.wait_answering("2.0.0")
    assert_switched_as_one(survivors, "1.0.0", "2.0.0")
    assert {m["replica"] for m in survivors[0].status()["members"]} == {"r0", "r1"}


def test_a_restarted_replica_serves_the_fleet_version_not_its_own(replica) -> None:
    first = replica("r0", "--want", "default=1.0.0", *FAST)
    second = replica("r1", "--want", "default=1.0.0", *FAST)
    for process in (first, second):
        process.wait_answering("1.0.0")
    second.stop()
    first.want("2.0.0")
    first.wait_answering("2.0.0")

    # It comes back with an older idea (its view of the volume has not caught up yet).
    back = replica("r1", "--want", "default=1.0.0", *FAST, "--load-delay", "0.5")
    back.wait_answering("2.0.0")
    assert not any(line.startswith("answer default 1.0.0") for line in back.lines)
    assert first.answer() == "2.0.0"  # and it did not pull the fleet back
    round_robin([first, back], all_answer("2.0.0", 2))


def test_nats_down_keeps_serving_and_flips_only_when_it_is_back(replica, nats_server) -> None:
    replicas = [replica(f"r{i}", "--want", "default=1.0.0", *FAST) for i in range(3)]
    for process in replicas:
        process.wait_answering("1.0.0")

    nats_server.stop()
    for process in replicas:
        process.wait_for_line(lambda line: "lost NATS" in line)
        assert process.status()["connected"] is False
        process.want("2.0.0")
    for process in replicas:
        process.wait_loaded("2.0.0")
    # Everything is loaded everywhere, yet nothing flips without NATS; all keep serving.
    assert [process.answer() for process in replicas] == ["1.0.0"] * 3

    nats_server.start()
    seen = round_robin(replicas, all_answer("2.0.0", 3))
    assert_switched_as_one(replicas, "1.0.0", "2.0.0")
    assert all(process.status()["connected"] for process in replicas)
    assert None not in [answer for _, answer in seen]
