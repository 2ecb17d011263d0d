"""Replica stand-in processes (`replica_driver.py`) and a client for their line protocol."""

import json
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.server import ServiceProcess

if TYPE_CHECKING:
    from support.gated_model import LoadGate

Answers = dict[str, str | None]  # replica id -> its last answer (None: it refused)

DRIVER = Path(__file__).with_name("replica_driver.py")


class ReplicaProcess(ServiceProcess):
    """One replica process on 127.0.0.1; `ask` talks to it over one kept-open connection."""

    def __init__(self, nats_url: str, replica_id: str, *args: str) -> None:
        super().__init__(
            [sys.executable, str(DRIVER), "--nats", nats_url, "--id", replica_id, *args],
            r"^listening (\d+)$",
            {},
        )
        self.id = replica_id
        self._file: Any = None

    def ask(self, line: str) -> str:
        if self._file is None:
            self._file = socket.create_connection(("127.0.0.1", self.port or 0), timeout=10).makefile("rwb")
        self._file.write(line.encode() + b"\n")
        self._file.flush()
        return self._file.readline().decode().strip()

    def answer(self, model: str = "default") -> str | None:
        """The version it answers with now; None when it refuses (not ready)."""
        reply = self.ask(f"gate {model}")
        return None if reply.startswith("!") else reply

    def want(self, version: str, model: str = "default") -> None:
        assert self.ask(f"want {model} {version}") == "ok"

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(self.ask("status"))
        return status

    def wait_answering(self, version: str, model: str = "default", timeout: float = 20.0) -> str:
        return self.wait_for_line(lambda line: line.startswith(f"answer {model} {version} "), timeout)

    def wait_loaded(self, version: str, model: str = "default", timeout: float = 20.0) -> str:
        return self.wait_for_line(lambda line: line == f"loaded {model} {version}", timeout)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the fleet."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().stop()


def round_robin(
    replicas: Sequence[ReplicaProcess], done: Callable[[Answers], bool], timeout: float = 30.0
) -> list[tuple[str, str | None]]:
    """Ask each replica in turn what it answers with until `done(last answers)`.

    Asserts the guarantee on every answer: never an older version once a newer one was seen.
    Returns every (replica, answer) seen, in order.
    """
    newest: Version | None = None
    seen: list[tuple[str, str | None]] = []
    last: dict[str, str | None] = {}
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for replica in replicas:
            got = last[replica.id] = replica.answer()
            seen.append((replica.id, got))
            if got is not None:
                assert newest is None or Version(got) >= newest, (
                    f"{replica.id} answered {got} after {newest} was seen\n" + logs(replicas)
                )
                newest = max(newest or Version(got), Version(got))
        if done(last):
            return seen
    raise TimeoutError(f"not done after {timeout} s; last answers {last}")


def released_after_three_rounds(
    gate: "LoadGate", done: Callable[[Answers], bool]
) -> Callable[[Answers], bool]:
    """A `round_robin` stop condition: the slow load waiting on `gate` is let go after three
    rounds, while the client keeps asking; then `done(last answers)` decides."""
    rounds = 0

    def check(last: Answers) -> bool:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            gate.release()
        return rounds > 3 and done(last)

    return check


def logs(replicas: Sequence[ReplicaProcess]) -> str:
    return "\n".join(f"--- {replica.id}\n{replica.log_text()}" for replica in replicas)


def assert_switched_as_one(
    replicas: Sequence[ReplicaProcess], old: str, new: str, model: str = "default"
) -> None:
    """From the replicas' own clock stamps: each stopped answering `old` before any answered `new`.

    Independent of which requests a client happened to send: a flip without the fence
    (replicas switching straight from `old` to `new`, each when it hears of it) fails here.
    """
    stopped_old, started_new = [], []
    for replica in replicas:
        # A client may hear the new version before the line saying so has been read here.
        replica.wait_for_line(lambda line: line.startswith(f"answer {model} {new} "))
        answers = [line.split()[2:] for line in replica.lines if line.startswith(f"answer {model} ")]
        start = next(i for i, (version, _) in enumerate(answers) if version == new)
        started_new.append(int(answers[start][1]))
        if any(version == old for version, _ in answers[:start]):
            last_old = max(i for i, (version, _) in enumerate(answers[:start]) if version == old)
            stopped_old.append(int(answers[last_old + 1][1]))
    assert stopped_old and max(stopped_old) <= min(started_new), logs(replicas)
