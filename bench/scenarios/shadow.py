"""What a shadow costs the answers: single-row `POST /predict` p50/p99 on a real
`regwatch serve` with and without a shadow version, in many short interleaved rounds (the
shadow is turned on over `/release/shadow` for its rounds and off after), at c=1 and c=16.
The shadow predicts off the response path, so its target is no added latency (issue 14):
the row gives the median over rounds of p50 with / p50 without (this machine's noise moves
pooled figures by more than the effect). At c=16 the server is CPU-bound, so the shadow's
own predictions (merged, a fraction of a call per request) are work it has to fit in. The
server's count of compared, dropped and failed rows shows the shadow did its work."""

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sklearn.base import clone
from sklearn.datasets import load_iris

from bench.context import Bench
from bench.measure import Target, interleave
from regwatch.registry import ModelRegistry

TOKEN = "bench-admin-token-0123456789abcdef"
STABLE, SHADOW = "2.0.0", "1.0.0"
WARMUP_S = 0.5  # per round: the shadow's first merged calls after it is turned on


@contextlib.asynccontextmanager
async def shadowing(client: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """The shadow on (and loaded) for one round; off again after it. Yields what it compared."""
    answer = await client.post("/release/shadow", json={"version": SHADOW})
    answer.raise_for_status()
    deadline = time.monotonic() + 30
    while (await client.get("/models")).json()["release"]["roles"]["shadow"] != SHADOW:
        if time.monotonic() > deadline:
            raise RuntimeError("the shadow did not load within 30 s")
        await asyncio.sleep(0.05)
    before = (await client.get("/models")).json()["release"]["shadow"]
    seen: dict[str, Any] = {}
    yield seen
    after = (await client.get("/models")).json()["release"]["shadow"]
    seen |= {key: after[key] - before[key] for key in ("compared", "dropped", "failed")}
    seen["agreement"] = after["agreement"]
    (await client.delete("/release/shadow")).raise_for_status()


async def run(ctx: Bench) -> None:
    root = ctx.work / "shadow"
    registry = ModelRegistry(root, scan=False)
    # Another fit of the same pipeline: it disagrees with stable on a few rows.
    other = clone(ctx.iris).set_params(logisticregression__C=0.05).fit(*load_iris(return_X_y=True))
    registry.save_model(SHADOW, other, dict(ctx.iris_meta))
    registry.save_model(STABLE, ctx.iris, dict(ctx.iris_meta))
    server = ctx.regwatch(root, name="regwatch-shadow", env={"REGWATCH_ADMIN_TOKEN": TOKEN})
    headers = {"Authorization": f"Bearer {TOKEN}"}
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
        for concurrency in (1, 16):
            stats = await interleave(
                [
                    Target("no shadow", server.port),
                    Target("shadow", server.port, during=lambda: shadowing(client)),
                ],
                rounds=ctx.cfg.shadow_rounds,
                seconds=ctx.cfg.shadow_round_s,
                warmup=WARMUP_S,
                concurrency=concurrency,
            )
            figures[f"c{concurrency}"] = stats
            off, on = stats["no shadow"], stats["shadow"]
            compared = sum(r["compared"] for r in on["during"])
            dropped = sum(r["dropped"] for r in on["during"])
            failed = sum(r["failed"] for r in on["during"])
            p50_ratio = statistics.median(
                a / b for a, b in zip(on["p50_ms_rounds"], off["p50_ms_rounds"], strict=True) if b
            )
            ctx.report.row(
                f"predict with / without a shadow, 1 row, c={concurrency}: p50 / p99",
                f"**{on['p50_ms']:.2f} / {on['p99_ms']:.2f}** vs {off['p50_ms']:.2f} / {off['p99_ms']:.2f} ms "
                f"(p50 **{p50_ratio:.2f}×**, median of {len(off['p50_ms_rounds'])} rounds); "
                f"{on['rps']:,.0f} vs {off['rps']:,.0f} req/s; shadow compared {compared:,} rows, "
                f"dropped {dropped:,}, failed {failed}",
                "no added latency on the response path (issue 14)",
                None,
            )
    ctx.report.figure("shadow", figures)
