"""Cluster mode (issue 16): three real `regwatch serve` replicas on one registry with a real
nats-server, and one process alone on a registry of its own, for reference.

A complete folder is renamed into each registry in turn (fleet, then alone, alternating);
a client per replica polls `/predict` back to back on a keep-alive connection and notes
when its replica first answers with the new version. Switch skew: first → last replica
answering it (issue 16: p99 ≤ 50 ms). Drop-to-serve: rename → the first replica, and → the
last one, answering it; beside the same figure for the process alone. Then `/predict`
through the gateway round-robining the replicas (`UPSTREAM_URLS`), beside one replica direct.

The servers share one core (as every server of the bench): three replicas loading a
version at once take longer than one process does, which is part of what is measured.
"""

import asyncio
import os
import random
import time
from typing import Any

from bench import loadgen, servers
from bench.context import Bench
from bench.measure import Target, expect_ok, interleave, pct_ms, wait_serving
from bench.scenarios.gateway import API_KEY
from bench.workload import IRIS_ROW
from tests.support.nats import NatsServer

REPLICAS = 3
TIMEOUT = 20.0
FLEET_ENV = {
    "REGWATCH_FLEET_HEARTBEAT": "0.2",
    "REGWATCH_FLEET_MEMBER_TTL": "1",
}


async def _first_answers(ports: list[int], version: str) -> list[float | None]:
    """When each server first answered `version` (perf_counter), polled all at once."""
    return list(await asyncio.gather(*(wait_serving(port, version, TIMEOUT) for port in ports)))


async def run(ctx: Bench) -> None:
    from regwatch.registry import ModelRegistry

    fleet_root, alone_root = ctx.work / "fleet", ctx.work / "fleet-alone"
    for root in (fleet_root, alone_root):
        ModelRegistry(root, scan=False).save_model("1.0.0", ctx.iris, dict(ctx.iris_meta))
    nats = NatsServer(ctx.work / "nats").start()
    try:
        env = {**FLEET_ENV, "REGWATCH_NATS_URL": nats.url}
        replicas = [
            ctx.regwatch(fleet_root, name=f"fleet-{i}", env={**env, "REGWATCH_REPLICA_ID": f"r{i}"})
            for i in range(REPLICAS)
        ]
        alone = ctx.regwatch(alone_root, name="fleet-alone")
        ports = [replica.port for replica in replicas]
        if None in await _first_answers([*ports, alone.port], "1.0.0"):
            raise RuntimeError("the fleet (or the process alone) never served 1.0.0")

        staging = ctx.work / "fleet-staging"
        staging.mkdir()
        skews, first, last, alone_drops, misses = [], [], [], [], 0
        for _ in range(ctx.cfg.fleet_trials):
            for root, targets in ((fleet_root, ports), (alone_root, [alone.port])):
                name = ctx.versions.next()
                ctx.tpl.build(staging / name)
                await asyncio.sleep(0.05)  # the staging folder's own inotify events are handled
                started = time.perf_counter()
                os.rename(staging / name, root / "versions" / name)
                seen = await _first_answers(targets, name)
                if None in seen:
                    misses += 1
                    continue
                times = [t - started for t in seen if t is not None]
                if root is alone_root:
                    alone_drops.append(times[0])
                else:
                    skews.append(max(times) - min(times))
                    first.append(min(times))
                    last.append(max(times))
                await asyncio.sleep(0.12 + random.uniform(0, 0.05))
        gateway = await _through_the_gateway(ctx, ports)
    finally:
        nats.stop()

    skew = pct_ms(skews)
    ctx.report.figure("fleet_switch_skew", skew | {"replicas": REPLICAS, "timeouts": misses})
    ctx.report.row(
        f"switch skew across {REPLICAS} replicas ({skew.get('n')} flips: first → last replica answering the new version)",
        f"p50 {skew.get('p50_ms')} ms, **p99 {skew.get('p99_ms')} ms**, max {skew.get('max_ms')} ms, {misses} timeouts",
        "p99 ≤ 50 ms (issue 16)",
        bool(skew.get("n")) and skew["p99_ms"] <= 50 and not misses,
    )
    drops = {"fleet_first": pct_ms(first), "fleet_last": pct_ms(last), "alone": pct_ms(alone_drops)}
    ctx.report.figure("fleet_drop_to_serve", drops)
    ctx.report.row(
        f"drop-to-serve in a fleet of {REPLICAS} (rename → first / last replica answering) vs one process alone",
        f"fleet p50 {drops['fleet_first'].get('p50_ms')} / {drops['fleet_last'].get('p50_ms')} ms, "
        f"p95 {drops['fleet_first'].get('p95_ms')} / {drops['fleet_last'].get('p95_ms')} ms; "
        f"alone p50 {drops['alone'].get('p50_ms')} ms, p95 {drops['alone'].get('p95_ms')} ms",
        "(reference: the cost of switching as one)",
        None,
    )
    g, d = gateway["gateway"], gateway["direct"]
    ctx.report.figure("fleet_gateway_c16", gateway)
    ctx.report.row(
        f"predict throughput through the gateway across {REPLICAS} replicas (UPSTREAM_URLS, c=16)",
        f"{g['rps']:,.0f} req/s (p99 {g['p99_ms']:.1f} ms, {g['non_2xx']} errors) vs one replica direct "
        f"{d['rps']:,.0f} req/s; the replicas share one core here, so this measures the spread, not scaling",
        "(reference)",
        None,
    )


async def _through_the_gateway(ctx: Bench, ports: list[int]) -> dict[str, Any]:
    """The gateway round-robining the replicas, beside one replica asked directly."""
    gw = ctx.start(servers.gateway(ports, API_KEY), timeout=30)
    via = loadgen.post_json("/predict", {"instances": [IRIS_ROW]}, headers={"x-api-key": API_KEY})
    await expect_ok(gw.port, via, "the gateway's /predict")
    try:
        return await interleave(
            [Target("gateway", gw.port, via), Target("direct", ports[0])],
            rounds=ctx.cfg.gateway_rounds,
            seconds=ctx.cfg.round_s,
            warmup=ctx.cfg.warmup_s,
            concurrency=16,
        )
    finally:
        gw.stop()
