"""Memory stays flat over swaps: RSS (/proc) of a server after each of many swaps of a
~21 MB model (folders rotated: the newest 3 stay on disk), each swap awaited on `/events`."""

import asyncio
import os
import shutil
from typing import Any

import joblib

from bench import loadgen
from bench.context import Bench
from bench.workload import PREDICT, Template, big_model

SAMPLES = (1, 2, 4, 10, 50, 100, 200)


class Loaded:
    """model_loaded events by version, awaitable."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def add(self, data: dict[str, Any], now: float) -> None:
        self.of(data["version"]).set()

    def of(self, version: str) -> asyncio.Event:
        return self.events.setdefault(version, asyncio.Event())


async def run(ctx: Bench) -> None:
    swaps = ctx.cfg.memory_swaps
    root = ctx.work / "memory"
    path = ctx.work / "big.joblib"
    joblib.dump(big_model(), path)
    tpl = Template(path, {"description": "bench 20 MB knn"})
    size_mb = path.stat().st_size / 1e6
    tpl.build(root / "versions" / "1.0.0")
    p = ctx.regwatch(root, name="regwatch-memory")
    loaded = Loaded()
    sse = await loadgen.open_sse("127.0.0.1", p.port, "model_loaded", loaded.add)
    await asyncio.wait_for(sse.snapshot, 30)
    rss: dict[int, int] = {0: p.rss()}
    staging = root / "staging"
    staging.mkdir()
    names: list[str] = []
    for i in range(1, swaps + 1):
        v = f"2.{i}.0"
        tpl.build(staging / v)
        os.rename(staging / v, root / "versions" / v)
        names.append(v)
        try:
            await asyncio.wait_for(loaded.of(v).wait(), 20)
        except TimeoutError:
            raise RuntimeError(f"version {v} was not loaded within 20 s") from None
        if len(names) > 3:  # rotate: keep the newest 3 on disk
            shutil.rmtree(root / "versions" / names[-4], ignore_errors=True)
        if i in SAMPLES or i == swaps:
            await asyncio.sleep(0.3)  # let the released model's memory go back before sampling
            rss[i] = p.rss()
    client = loadgen.Client("127.0.0.1", p.port)
    status, _body = await client.send(PREDICT)
    client.close()
    assert sse.transport is not None
    sse.transport.close()
    p.stop()
    mb = {k: round(v / 1e6, 1) for k, v in rss.items()}
    growth = {k: rss[swaps] / rss[k] - 1 for k in (1, 4, 10) if k < swaps}  # from k swaps to the last
    ctx.report.figure(
        "memory",
        {
            "model_mb": round(size_mb, 1),
            "swaps": swaps,
            "rss_mb": mb,
            **{f"growth_vs_{k}": round(g, 4) for k, g in growth.items()},
            "final_predict_status": status,
        },
    )
    later = "".join(f"; after {k} swaps → {swaps}: {growth[k] * 100:+.1f} %" for k in (4, 10) if k in growth)
    ctx.report.row(
        f"memory: RSS after 1 vs {swaps} swaps of a {size_mb:.0f} MB model",
        f"{mb[1]} → {mb[swaps]} MB = **{growth[1] * 100:+.1f} %**{later}",
        "≤ +10 %",
        growth[1] <= 0.10,
    )
