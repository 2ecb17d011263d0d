"""Switch skew of a fleet: the time from the first to the last replica answering a new version.

    .venv/bin/python tests/fleet/measure_skew.py [--replicas 3] [--flips 30]

Starts a nats-server and replica processes (`replica_driver.py`) on 127.0.0.1, flips the
default model `--flips` times, and reads each replica's CLOCK_MONOTONIC stamp of the moment
its answer changed (one machine, one clock). Prints p50 / p99 / max in milliseconds of the
skew, and of how long each replica held requests (from seeing the fence to the commit).
"""

import argparse
import math
import tempfile
from pathlib import Path

from replicas import ReplicaProcess
from support.nats import NatsServer


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stamp(replica: ReplicaProcess, version: str) -> int:
    return int(replica.wait_answering(version, timeout=30).split()[-1])


def hold(replica: ReplicaProcess, version: str) -> float:
    """Milliseconds this replica held requests (fence seen -> commit seen) for `version`."""
    answers = [line.split() for line in replica.lines if line.startswith("answer default ")]
    at = next(i for i, fields in enumerate(answers) if fields[2] == version)
    return (int(answers[at][3]) - int(answers[at - 1][3])) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--flips", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as store, NatsServer(Path(store)) as server:
        common = (
            "--want",
            "default=1.0.0",
            "--heartbeat",
            "0.2",
            "--member-ttl",
            "1",
            "--load-delay",
            "0.01",
        )
        replicas = [ReplicaProcess(server.url, f"r{i}", *common).start() for i in range(args.replicas)]
        try:
            for replica in replicas:
                stamp(replica, "1.0.0")
            skews: list[float] = []
            holds: list[float] = []
            for flip in range(1, args.flips + 1):
                version = f"1.{flip}.0"
                for replica in replicas:
                    replica.want(version)
                stamps = [stamp(replica, version) for replica in replicas]
                skews.append((max(stamps) - min(stamps)) / 1e6)
                holds.extend(hold(replica, version) for replica in replicas)
        finally:
            for replica in replicas:
                replica.stop()
    print(f"{len(skews)} flips, {args.replicas} replica processes:")
    for name, values in (("switch skew", skews), ("requests held", holds)):
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(f"  {name}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {max(values):.2f} ms")


if __name__ == "__main__":
    main()
