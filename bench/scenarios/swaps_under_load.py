"""No request fails while versions come and go: 32 clients for a while, a new version
published (`save_model`: temp folder, fsync, rename) every 300 ms meanwhile."""

from bench import loadgen
from bench.context import Bench
from bench.measure import pct_ms
from bench.workload import PREDICT, Publisher


async def run(ctx: Bench) -> None:
    seconds = ctx.cfg.swaps_s
    seen: dict[str, int] = {}

    def note(status: int, body: bytes) -> None:
        if status == 200:
            i = body.find(b'"model_version":"')
            v = body[i + 17 : body.find(b'"', i + 17)].decode()
            seen[v] = seen.get(v, 0) + 1

    pub = Publisher(ctx.main_root, ctx.iris, ctx.iris_meta, ctx.versions, 0.3)
    async with pub:
        res = await loadgen.run_load(
            "127.0.0.1",
            ctx.main_port,
            PREDICT,
            concurrency=32,
            duration=seconds,
            warmup=0.0,
            on_response=note,
        )
    s = res.summary()
    s["published"] = len(pub.published)
    s["versions_seen"] = len(seen)
    s["publish_ms"] = pct_ms(pub.publish_seconds)
    ctx.report.figure("swaps_under_load", s)
    ctx.report.row(
        f"failed requests during swaps (32 clients, {seconds:.0f} s, publish every 300 ms)",
        f"**{s['non_2xx']} non-2xx, {s['conn_errors']} connection errors** of {s['requests']:,} "
        f"({s['published']} versions published, {s['versions_seen']} seen answering; p99 {s['p99_ms']:.1f} ms)",
        "0 and 0",
        s["non_2xx"] == 0 and s["conn_errors"] == 0,
    )
