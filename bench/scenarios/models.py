"""Many models: start-up discovery of 100 models x 10 versions, and what 100 models x 3
versions cost (time until every model serves, and RSS with one and with all three
versions of each model loaded). Then the default model's one-row /predict on a server
that also serves 100 other models, against a server holding the default model alone."""

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.context import Bench
from bench.measure import Target, interleave, ratio
from bench.report import log

MODELS = 100
DISCOVERED = re.compile(r"discovered in ([0-9.]+) s")


def _build(ctx: Bench, root: Path, models: int, versions: int) -> None:
    """The default model (one version) and `models` named ones of `versions` versions each;
    model files are copies (hard links would share one file identity, which the loader refuses)."""
    ctx.tpl.build(root / "versions" / "1.0.0")
    for m in range(models):
        for v in range(versions):
            ctx.tpl.build(root / "models" / f"m{m:03d}" / "versions" / f"1.{v}.0")


async def _until_ready(port: int, timeout: float) -> float:
    """Seconds until /readyz says every model serves."""
    client = loadgen.Client("127.0.0.1", port)
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < timeout:
            status, _ = await client.send(loadgen.get("/readyz"))
            if status == 200:
                return time.perf_counter() - t0
            await asyncio.sleep(0.02)
        raise RuntimeError(f"not every model was serving within {timeout} s")
    finally:
        client.close()


async def _pin_older(port: int, models: int, versions: int) -> None:
    """Load every model's older versions through ?version= (the pinned slots)."""
    client = loadgen.Client("127.0.0.1", port)
    try:
        for v in range(versions - 1):
            for m in range(models):
                path = f"/predict?model=m{m:03d}&version=1.{v}.0"
                while True:
                    status, _ = await client.send(loadgen.post_json(path, ROW))
                    if status == 200:
                        break
                    await asyncio.sleep(0.05)  # 503 while its load goes on
    finally:
        client.close()


ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


async def run(ctx: Bench) -> None:
    alone = ctx.work / "models-alone"
    _build(ctx, alone, 0, 0)
    solo = ctx.regwatch(alone, name="regwatch-models-alone")
    base_ready, base_rss = solo.ready_seconds, solo.rss()

    wide = ctx.work / "models-100x10"
    _build(ctx, wide, MODELS, 10)
    p = ctx.regwatch(wide, name="regwatch-models-100x10", timeout=120)
    wide_ready = p.ready_seconds
    line = p.wait_for_line(lambda text: DISCOVERED.search(text) is not None, 10)
    discovery = float(DISCOVERED.findall(line)[0])
    p.stop()

    three = ctx.work / "models-100x3"
    _build(ctx, three, MODELS, 3)
    p = ctx.regwatch(three, name="regwatch-models-100x3", timeout=120)
    all_serving = p.ready_seconds + await _until_ready(p.port, 120)
    rss_serving = p.rss()
    stats = await interleave(
        [Target("alone", solo.port), Target("beside", p.port)],
        rounds=ctx.cfg.rounds,
        seconds=ctx.cfg.round_s,
        warmup=ctx.cfg.warmup_s,
        concurrency=16,
    )
    solo.stop()
    await _pin_older(p.port, MODELS, 3)
    rss_all = p.rss()
    p.stop()

    mb = 1e6
    figures: dict[str, Any] = {
        "discovery_100x10_seconds": round(discovery, 3),
        "ready_100x10_seconds": round(wide_ready, 3),
        "ready_1_model_seconds": round(base_ready, 3),
        "all_100x3_serving_seconds": round(all_serving, 3),
        "rss_1_model_mb": round(base_rss / mb, 1),
        "rss_100x3_serving_mb": round(rss_serving / mb, 1),
        "rss_100x3_all_loaded_mb": round(rss_all / mb, 1),
        "per_model_serving_mb": round((rss_serving - base_rss) / MODELS / mb, 2),
        "default_predict_c16": stats,
    }
    ctx.report.figure("models", figures)
    log(f"  models: {figures}")
    row = ctx.report.row
    row(
        f"start-up discovery, {MODELS} models × 10 versions",
        f"**{discovery:.2f} s** (the server's own start-up line: every folder inspected and indexed, "
        f"release states read; the process answered after {wide_ready:.2f} s, {base_ready:.2f} s with 1 model, "
        "while 100 models' first loads start)",
        "≤ 2 s",
        discovery <= 2.0,
    )
    row(
        f"{MODELS} models × 3 versions: every model serving / RSS",
        f"{all_serving:.1f} s after start; RSS {rss_serving / mb:.0f} MB serving "
        f"(+{(rss_serving - base_rss) / MODELS / mb:.2f} MB per model), {rss_all / mb:.0f} MB with all 300 loaded "
        f"(1 model: {base_rss / mb:.0f} MB)",
        "reported",
        None,
    )
    beside = ratio(stats, "beside", "alone")
    row(
        "default-model /predict c=16 beside 100 models / alone",
        f"{stats['beside']['rps']:,.0f} / {stats['alone']['rps']:,.0f} req/s = **{beside:.3f}×**",
        "≥ 0.97×",
        beside >= 0.97,
    )
