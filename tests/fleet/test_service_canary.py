"""A canary in a fleet: its share of default traffic starts and stops on every replica at
once (one switch of the fleet's target), never on one replica before the others can."""

from collections.abc import Callable

from replicas import released_after_three_rounds, round_robin
from service_replicas import ServiceReplica
from support.cli import regwatch
from support.gated_model import LOAD_GATE_ENV, LoadGate, load_gated_model
from support.models import publish


def release(root, *args: str) -> None:
    done = regwatch(*args, "--registry", str(root))
    assert done.returncode == 0, done.stderr


def answers_until(
    replicas: list[ServiceReplica], done: Callable[[list[str | None]], bool]
) -> list[str | None]:
    """What default requests round-robined over the replicas answer, until `done(answers)`."""
    answers: list[str | None] = []
    for _ in range(500):
        answers += [replica.answer() for replica in replicas]
        if done(answers):
            return answers
    raise AssertionError(f"not done after {len(answers)} answers: {answers[-10:]}")


def test_a_canary_takes_its_share_on_every_replica_at_once(root, tmp_path, service_replica) -> None:
    gate = LoadGate(tmp_path / "gate")
    publish(root, "1.0.0")
    fast = service_replica("fast", REGWATCH_FLEET_PREPARE_DEADLINE="60")
    slow = service_replica("slow", REGWATCH_FLEET_PREPARE_DEADLINE="60", **{LOAD_GATE_ENV: str(gate.path)})
    replicas = [fast, slow]
    for replica in replicas:
        replica.wait_serving("1.0.0")
    release(root, "promote", "1.0.0")  # 2.0.0 is then loaded, but takes no default traffic
    publish(root, "2.0.0", model=load_gated_model())
    gate.wait_blocked()  # the slow replica is loading 2.0.0, and stays at it

    release(root, "canary", "2.0.0", "--percent", "100")
    fast.wait_for_line(lambda line: "canary 2.0.0 takes its traffic" in line)
    # The fast replica has the canary, the slow one not yet: nobody gives it traffic.
    assert [replica.answer() for replica in replicas * 3] == ["1.0.0"] * 6
    assert fast.fleet()["models"][0]["canary"] is None

    # Never 1.0.0 from any replica once one answered with the canary.
    all_canary = released_after_three_rounds(gate, lambda last: list(last.values()) == ["2.0.0", "2.0.0"])
    seen = round_robin(replicas, all_canary)
    assert [answer for _, answer in seen][:6] == ["1.0.0"] * 6 and None not in dict(seen).values()
    (model,) = slow.fleet()["models"]
    assert (model["canary"], model["answer_canary"]) == ({"version": "2.0.0", "percent": 100.0},) * 2
    release_roles = slow.client.get("/models").json()["release"]["roles"]
    assert (release_roles["stable"], release_roles["canary"]) == ("1.0.0", "2.0.0")

    release(root, "canary", "--stop")
    answers = answers_until(replicas, lambda answers: answers[-2:] == ["1.0.0", "1.0.0"])
    back = answers.index("1.0.0")  # the canary until the fleet switched back, then never again
    assert set(answers[:back]) <= {"2.0.0"} and set(answers[back:]) == {"1.0.0"}, answers
    assert [replica.fleet()["models"][0]["canary"] for replica in replicas] == [None, None]
