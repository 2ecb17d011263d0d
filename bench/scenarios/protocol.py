"""The Open Inference Protocol's cost: a one-row V2 infer against the same one-row
`/predict`, on the main server, interleaved, at c=16 and c=1 (issue 13: within 10 %)."""

from bench import loadgen
from bench.context import Bench
from bench.measure import Target, expect_ok, interleave, ratio, wait_serving
from bench.workload import IRIS_ROW, PREDICT

INFER = loadgen.post_json(
    "/v2/models/default/infer",
    {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]},
)


async def run(ctx: Bench) -> None:
    port = ctx.main_port
    if await wait_serving(port, "1.0.0", 60) is None:
        raise RuntimeError("the main server did not serve 1.0.0 within 60 s")
    await expect_ok(port, INFER, "V2 infer")
    figures = {}
    for concurrency in (16, 1):
        stats = await interleave(
            [Target("predict", port, PREDICT), Target("v2", port, INFER)],
            rounds=ctx.cfg.rounds,
            seconds=ctx.cfg.round_s,
            warmup=ctx.cfg.warmup_s,
            concurrency=concurrency,
        )
        figures[f"c{concurrency}"] = stats
        r = ratio(stats, "v2", "predict")
        v2, predict = stats["v2"], stats["predict"]
        ctx.report.row(
            f"V2 infer / /predict, one row, c={concurrency}",
            f"{v2['rps']:,.0f} / {predict['rps']:,.0f} req/s = **{r:.2f}×** "
            f"(p50 {v2['p50_ms']} / {predict['p50_ms']} ms)",
            "≥ 0.9× (issue 13)",
            r >= 0.9,
        )
    ctx.report.figure("protocol", figures)
