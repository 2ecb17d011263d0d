"""Single-row `POST /predict` throughput and tail latency, regwatch side by side with a bare
FastAPI app serving the same model and with MLServer (without batching, and its best
configuration): at c=16, where the targets are, and at c=64.

Targets: issue 7 (regwatch / bare FastAPI p99 ≤ 1.1x, regwatch / MLServer without
batching ≥ 1.5x) and issue 12 (c=16 req/s ≥ 2x bare FastAPI and ≥ 2x MLServer's best,
p99 no worse than MLServer's best, at c=16 and c=64)."""

from typing import Any

from bench.context import Bench
from bench.measure import Target, interleave, ratio
from bench.peers import BEST, PLAIN, Peers

Stats = dict[str, dict[str, Any]]


def _targets(ctx: Bench, peers: Peers, names: tuple[str, ...]) -> list[Target]:
    return [Target("regwatch", ctx.main_port), *(peers.targets[n] for n in names if n in peers.targets)]


async def c16(ctx: Bench) -> None:
    peers = ctx.peers
    assert peers is not None
    targets = _targets(ctx, peers, ("baseline", "naive", PLAIN, BEST))
    stats = await interleave(
        targets, rounds=ctx.cfg.rounds, seconds=ctx.cfg.round_s, warmup=ctx.cfg.warmup_s, concurrency=16
    )
    ctx.report.figure("predict_c16", stats)
    _rows_c16(ctx, peers, stats)


def _rows_c16(ctx: Bench, peers: Peers, stats: Stats) -> None:
    row = ctx.report.row
    rw, base = stats["regwatch"], stats["baseline"]
    r = ratio(stats, "regwatch", "baseline")
    p99r = round(rw["p99_ms"] / base["p99_ms"], 2)
    row(
        "predict throughput, 1 row, c=16: regwatch / bare FastAPI",
        f"{rw['rps']:,.0f} vs {base['rps']:,.0f} req/s = **{r:.2f}×**",
        "≥ 2× (issue 12; issue 7: ≥ 0.95×)",
        r >= 2.0,
    )
    row(
        "predict p99 latency, c=16: regwatch / bare FastAPI",
        f"{rw['p99_ms']:.1f} vs {base['p99_ms']:.1f} ms = **{p99r:.2f}×** (p50 {rw['p50_ms']:.1f} vs {base['p50_ms']:.1f})",
        "≤ 1.1×",
        p99r <= 1.1,
    )
    if "naive" in stats:
        n = stats["naive"]
        row(
            "  (reference) naive FastAPI handler (sync def, dict return)",
            f"{n['rps']:,.0f} req/s, p99 {n['p99_ms']:.1f} ms",
            "",
            None,
        )
    best = peers.best_name
    if best is None:
        for figure, target in (
            ("vs MLServer 1.7 without batching: regwatch / MLServer", "≥ 1.5×"),
            ("vs MLServer 1.7, its best configuration: regwatch / MLServer", "≥ 2× req/s, p99 ≤ MLServer's"),
        ):
            row(figure, f"not measured: {peers.mlserver_note}", target, None)
        return
    m = stats[PLAIN]
    rm = ratio(stats, "regwatch", PLAIN)
    row(
        "vs MLServer 1.7 without batching (V2 protocol, same model, c=16): regwatch / MLServer",
        f"{rw['rps']:,.0f} vs {m['rps']:,.0f} req/s = **{rm:.2f}×** (MLServer p99 {m['p99_ms']:.1f} ms)",
        "≥ 1.5× (issue 7)",
        rm >= 1.5,
    )
    b = stats[best]
    rb = ratio(stats, "regwatch", best)
    row(
        f"vs MLServer 1.7, its best configuration ({peers.best_label}), c=16: regwatch / MLServer",
        f"{rw['rps']:,.0f} vs {b['rps']:,.0f} req/s = **{rb:.2f}×**",
        "≥ 2× (issue 12)",
        rb >= 2.0,
    )
    row(
        "predict p99 latency, c=16: regwatch vs MLServer's best configuration",
        f"**{rw['p99_ms']:.1f}** vs {b['p99_ms']:.1f} ms (p50 {rw['p50_ms']:.1f} vs {b['p50_ms']:.1f})",
        "no worse (issue 12)",
        rw["p99_ms"] <= b["p99_ms"],
    )
    for name, label in (("naive", "naive FastAPI"), ("baseline", "bare FastAPI")):
        if name in stats:
            row(
                f"  (reference) {label} / MLServer without batching",
                f"{ratio(stats, name, PLAIN):.2f}×",
                "",
                None,
            )


async def c64(ctx: Bench) -> None:
    peers = ctx.peers
    assert peers is not None
    best = peers.best_name
    targets = _targets(ctx, peers, ("baseline", PLAIN, BEST))
    stats = await interleave(
        targets, rounds=ctx.cfg.c64_rounds, seconds=ctx.cfg.round_s, warmup=ctx.cfg.warmup_s, concurrency=64
    )
    ctx.report.figure("predict_c64", stats)
    rw = stats["regwatch"]
    vs = f"= **{ratio(stats, 'regwatch', 'baseline'):.2f}×** bare FastAPI ({stats['baseline']['rps']:,.0f} req/s)"
    if best is not None:
        vs += f", **{ratio(stats, 'regwatch', best):.2f}×** MLServer's best ({stats[best]['rps']:,.0f} req/s)"
    ctx.report.row(
        "predict throughput, 1 row, c=64: regwatch", f"{rw['rps']:,.0f} req/s {vs}", "(reference)", None
    )
    if best is None:
        ctx.report.row(
            "predict p99 latency, c=64: regwatch vs MLServer's best configuration",
            f"regwatch p99 {rw['p99_ms']:.1f} ms (bare FastAPI {stats['baseline']['p99_ms']:.1f} ms); "
            f"MLServer not measured: {peers.mlserver_note}",
            "no worse (issue 12)",
            None,
        )
        return
    b = stats[best]
    ctx.report.row(
        "predict p99 latency, c=64: regwatch vs MLServer's best configuration",
        f"**{rw['p99_ms']:.1f}** vs {b['p99_ms']:.1f} ms (p50 {rw['p50_ms']:.1f} vs {b['p50_ms']:.1f}; "
        f"bare FastAPI p99 {stats['baseline']['p99_ms']:.1f} ms)",
        "no worse (issue 12)",
        rw["p99_ms"] <= b["p99_ms"],
    )
