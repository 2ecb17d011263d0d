"""Single-row `POST /predict` latency with one client (c=1): what a caller that waits for
each answer gets. Batching must not make it slower: issue 12 sets p50 ≤ 1.05x the figure
measured before batching (TODAY_P50_MS, see bench/README.md). The bare FastAPI app and
MLServer's best configuration run in the same interleaved rounds, so a noisy run shows as
such in their figures too."""

from bench.context import Bench
from bench.measure import Target, interleave

# regwatch's c=1 p50 before batching: the median of 8 runs at commit 4f776a6 on the 2-core
# bench machine (0.40-1.02 ms, shared with other work; bare FastAPI within ±10 % of it
# in each run). bench/README.md, "Reference figures".
TODAY_P50_MS = 0.46
TODAY_VS_BARE = 1.00  # the same runs' median of regwatch p50 / bare FastAPI p50
TODAY_COMMIT = "4f776a6"


async def run(ctx: Bench) -> None:
    peers = ctx.peers
    assert peers is not None
    best = peers.best_name
    targets = [Target("regwatch", ctx.main_port), peers.targets["baseline"]]
    if best is not None:
        targets.append(peers.targets[best])
    stats = await interleave(
        targets, rounds=ctx.cfg.c1_rounds, seconds=ctx.cfg.round_s, warmup=ctx.cfg.warmup_s, concurrency=1
    )
    ctx.report.figure("predict_c1", stats)
    rw, base = stats["regwatch"], stats["baseline"]
    vs_base = rw["p50_ms"] / base["p50_ms"]
    others = f"= {vs_base:.2f}× bare FastAPI's p50 {base['p50_ms']:.2f} ms (at {TODAY_COMMIT}: {TODAY_VS_BARE:.2f}×), its p99 {base['p99_ms']:.2f} ms"
    if best is not None:
        others += f"; MLServer's best ({peers.best_label}) p50 {stats[best]['p50_ms']:.2f}, p99 {stats[best]['p99_ms']:.2f} ms"
    else:
        others += f"; MLServer not measured: {peers.mlserver_note}"
    limit = round(1.05 * TODAY_P50_MS, 2)
    ctx.report.row(
        "predict latency, 1 row, c=1: regwatch p50 / p99",
        f"**{rw['p50_ms']:.2f}** / {rw['p99_ms']:.2f} ms ({others})",
        f"p50 ≤ {limit:.2f} ms (1.05 × {TODAY_P50_MS:.2f} ms at {TODAY_COMMIT}; issue 12)",
        rw["p50_ms"] <= limit,
    )
