"""What swapping costs the requests in flight: c=16 load while `save_model` publishes a new
version every second, interleaved with the same load while nothing is published."""

from bench.context import Bench
from bench.measure import Target, interleave, ratio
from bench.workload import Publisher


async def run(ctx: Bench) -> None:
    def publisher() -> Publisher:
        return Publisher(ctx.main_root, ctx.iris, ctx.iris_meta, ctx.versions, 1.0)

    stats = await interleave(
        [Target("steady", ctx.main_port), Target("swapping", ctx.main_port, during=publisher)],
        rounds=ctx.cfg.swapcost_rounds,
        seconds=ctx.cfg.swapcost_s,
        warmup=ctx.cfg.warmup_s,
        concurrency=16,
    )
    s = stats["swapping"]
    s["published"] = [len(d["published"]) for d in s.pop("during")]
    ctx.report.figure("swap_cost_c16", stats)
    r = ratio(stats, "swapping", "steady")
    ctx.report.row(
        "swap cost: predict req/s while swapping every 1 s / not swapping",
        f"{s['rps']:,.0f} vs {stats['steady']['rps']:,.0f} req/s = **{r:.2f}×** ({s['non_2xx']} non-2xx)",
        "≥ 0.9×",
        r >= 0.9,
    )
