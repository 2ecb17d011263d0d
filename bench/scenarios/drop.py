"""Drop-to-serve: a complete folder, prepared outside `versions/` on the same file system,
is renamed in; the time until `/predict` (polled back to back on one keep-alive
connection) is first answered by it.

With inotify, folders with and without a `sha256` in their metadata alternate on the
main server (issue 12: p50 ≤ 20 ms for both; issue 7: p50 ≤ 100 ms, p95 ≤ 250 ms). With
`--poll`, each rename happens at a random phase of the polling period (reference only)."""

import asyncio
import os
import random
import time
from pathlib import Path
from typing import Any

from bench.context import Bench
from bench.measure import pct_ms, wait_serving
from bench.workload import Template

VARIANTS = {"with sha256": "sha", "without sha256": "no_sha"}


async def _trials(
    ctx: Bench, port: int, root: Path, templates: list[Template], trials: int, jitter: float, timeout: float
) -> list[dict[str, Any]]:
    """`trials` renames of each template's folders, alternating templates; per template
    the latency percentiles and the timeouts.

    `jitter` spreads the renames over a polling period, so that trials do not phase-lock
    with the poller (each trial starts right after the previous detection)."""
    staging = root / "staging"
    staging.mkdir(exist_ok=True)
    plan = [(i, ctx.versions.next()) for _ in range(trials) for i in range(len(templates))]
    for i, name in plan:
        templates[i].build(staging / name)
    await asyncio.sleep(0.2)  # the folders' own inotify events are long handled
    latencies: list[list[float]] = [[] for _ in templates]
    misses = [0 for _ in templates]
    for i, name in plan:
        t0 = time.perf_counter()
        os.rename(staging / name, root / "versions" / name)
        t1 = await wait_serving(port, name, timeout)
        if t1 is None:
            misses[i] += 1
        else:
            latencies[i].append(t1 - t0)
        await asyncio.sleep(0.12 + random.uniform(0, jitter))
    return [
        {**pct_ms(lat), "timeouts": miss, "trials": trials}
        for lat, miss in zip(latencies, misses, strict=True)
    ]


async def inotify(ctx: Bench) -> None:
    results = await _trials(
        ctx, ctx.main_port, ctx.main_root, [ctx.tpl, ctx.tpl_no_sha], ctx.cfg.drop_trials, 0.0, 5.0
    )
    for (label, key), d in zip(VARIANTS.items(), results, strict=True):
        ctx.report.figure(f"drop_to_serve_inotify_{key}", d)
        ok = d.get("n") and d["p50_ms"] <= 20 and d["p95_ms"] <= 250 and not d["timeouts"]
        ctx.report.row(
            f"drop-to-serve by rename, inotify, {label} ({d['trials']} renames → first /predict by it)",
            f"p50 **{d.get('p50_ms')} ms**, p95 {d.get('p95_ms')} ms, max {d.get('max_ms')} ms, {d['timeouts']} timeouts",
            "p50 ≤ 20 ms (issue 12; issue 7: ≤ 100 ms), p95 ≤ 250 ms",
            bool(ok),
        )


async def poll(ctx: Bench) -> None:
    from regwatch.registry import ModelRegistry

    root = ctx.work / "poll"
    ModelRegistry(root, scan=False).save_model("1.0.0", ctx.iris, dict(ctx.iris_meta))
    p = ctx.regwatch(root, "--poll", name="regwatch-poll")
    interval = float(os.environ.get("REGWATCH_POLL_INTERVAL", "1.0"))
    (d,) = await _trials(ctx, p.port, root, [ctx.tpl], ctx.cfg.poll_trials, interval, 10.0)
    p.stop()
    d["poll_interval_s"] = interval
    ctx.report.figure("drop_to_serve_poll", d)
    ctx.report.row(
        f"drop-to-serve, --poll every {interval} s ({d['trials']} trials)",
        f"p50 {d.get('p50_ms')} ms, p95 {d.get('p95_ms')} ms, max {d.get('max_ms')} ms",
        "(reference: TF Serving polls every 1 s)",
        None,
    )
