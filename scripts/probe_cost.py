"""What isolating a load costs: one probe of the iris demo model, and its parts.

    .venv/bin/python scripts/probe_cost.py [--probes 30]

Prints p50/min/max of a whole probe (fork a child from the zygote, send the bytes,
unpickle, validate, warm up, report) and of its first step alone (zygote fork → pid).
"""

import argparse
import io
import json
import socket
import statistics
import time
from multiprocessing.connection import Connection

import joblib

import regwatch.api.app  # noqa: F401  (what a server has imported: the zygote preloads it)
from regwatch.cli.demo import train_demo_model
from regwatch.registry.formats import ModelFormat
from regwatch.serving import probe
from regwatch.serving.policy import LoadPolicy


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=30)
    args = parser.parse_args()
    model, metadata = train_demo_model()
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    data = buffer.getvalue()
    policy = LoadPolicy(timeout=30, memory_limit=2 << 30)
    probe.start_zygote()
    probe.Probe(policy).run(ModelFormat.PICKLE, data, metadata)  # warm
    whole, forks = [], []
    for _ in range(args.probes):
        started = time.perf_counter()
        probe.Probe(policy).run(ModelFormat.PICKLE, data, metadata)
        whole.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        ours, theirs = socket.socketpair()
        probe._ZYGOTE.fork_onto(theirs)
        with Connection(ours.detach()) as conn:
            json.loads(conn.recv_bytes())
            forks.append((time.perf_counter() - started) * 1000)
    for name, values in (("whole probe", whole), ("zygote fork -> pid", forks)):
        print(f"{name}: p50 {statistics.median(values):.1f} ms, min {min(values):.1f}, max {max(values):.1f}")


if __name__ == "__main__":
    main()
