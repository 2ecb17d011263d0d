"""The load generator's own ceiling: a fixed-response server at c=16. Every server figure
below is only meaningful when it is far under this one."""

from bench import loadgen, servers
from bench.context import Bench
from bench.workload import PREDICT


async def run(ctx: Bench) -> None:
    p = ctx.start(servers.trivial())
    res = await loadgen.run_load(
        "127.0.0.1", p.port, PREDICT, concurrency=16, duration=ctx.cfg.ceiling_s, warmup=0.3
    )
    p.stop()
    s = res.summary()
    ctx.report.figure("loadgen_ceiling", s)
    ctx.report.row(
        "load generator ceiling (fixed-response server, c=16)",
        f"{s['rps']:,.0f} req/s",
        "≫ any server below",
        None,
    )
