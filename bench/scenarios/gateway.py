"""What the Fastify gateway costs: `POST /predict` with `x-api-key` through `gateway/` in
front of the main server, interleaved with the same load sent to the server directly."""

import asyncio
import shutil
import subprocess

from bench import loadgen, servers
from bench.context import Bench
from bench.measure import Target, expect_ok, interleave, ratio
from bench.workload import IRIS_ROW
from tests.support.server import REPO

API_KEY = "bench-key-0123456789"
FIGURE, TARGET = "gateway overhead", "≥ 0.8×"


def _missing() -> str | None:
    """Why the gateway cannot be measured here, or None."""
    if not (REPO / "gateway" / "src" / "server.js").exists():
        return "gateway/ is not there"
    if shutil.which("node") is None:
        return "node is not installed"
    mk = subprocess.run(
        ["make", "-C", str(REPO), "gateway/node_modules/.package-lock.json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return f"npm ci failed: {mk.stderr.strip()[-150:]}" if mk.returncode else None


async def run(ctx: Bench) -> None:
    if why := await asyncio.to_thread(_missing):
        ctx.report.row(FIGURE, f"not measured: {why}", TARGET, None)
        return
    gw = ctx.start(servers.gateway(ctx.main_port, API_KEY), timeout=30)
    via = loadgen.post_json("/predict", {"instances": [IRIS_ROW]}, headers={"x-api-key": API_KEY})
    await expect_ok(gw.port, via, "the gateway's /predict")
    stats = await interleave(
        [Target("direct", ctx.main_port), Target("gateway", gw.port, via)],
        rounds=ctx.cfg.gateway_rounds,
        seconds=ctx.cfg.round_s,
        warmup=ctx.cfg.warmup_s,
        concurrency=16,
    )
    gw.stop()
    ctx.report.figure("gateway_c16", stats)
    r = ratio(stats, "gateway", "direct")
    g, d = stats["gateway"], stats["direct"]
    ctx.report.row(
        "gateway overhead: /predict via gateway / direct (c=16)",
        f"{g['rps']:,.0f} vs {d['rps']:,.0f} req/s = **{r:.2f}×** (p99 {g['p99_ms']:.1f} vs {d['p99_ms']:.1f} ms)",
        TARGET,
        r >= 0.8,
    )
