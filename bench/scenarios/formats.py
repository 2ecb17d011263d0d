"""What one `predict` costs per model format: the iris model as pickle, skops and ONNX,
each loaded the way the server loads it (`load_model_bytes`), timed in-process on one row
and on 64 rows (the batcher's largest inline batch). No HTTP: this isolates the model call,
the part of a request the format changes."""

import io
import statistics
import time
from collections.abc import Callable

import joblib
import numpy as np
import sklearn

from bench.context import Bench
from regwatch.cli.convert import convert_verified
from regwatch.registry import ModelFormat
from regwatch.serving import load_model_bytes

REPEATS = 7  # median of these timings, each over `calls` calls


def _per_call_us(call: Callable[[], object], calls: int) -> float:
    call()  # warm
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        timings.append((time.perf_counter() - started) / calls)
    return statistics.median(timings) * 1e6


async def run(ctx: Bench) -> None:
    sklearn.set_config(assume_finite=True)  # as the server's event loop runs scikit-learn
    pickled = io.BytesIO()
    joblib.dump(ctx.iris, pickled)
    files = {
        ModelFormat.PICKLE: pickled.getvalue(),
        ModelFormat.SKOPS: convert_verified(ctx.iris, ModelFormat.SKOPS, ctx.iris_meta),
        ModelFormat.ONNX: convert_verified(ctx.iris, ModelFormat.ONNX, ctx.iris_meta),
    }
    calls = ctx.cfg.format_calls
    rng = np.random.default_rng(0)
    figures = {}
    for fmt, data in files.items():
        model = load_model_bytes(fmt, data)
        one, batch = rng.normal(5, 2, size=(1, 4)), rng.normal(5, 2, size=(64, 4))
        figures[fmt.label] = {
            "file_bytes": len(data),
            "predict_1_us": _per_call_us(lambda m=model, x=one: m.predict(x), calls),
            "predict_64_us": _per_call_us(lambda m=model, x=batch: m.predict(x), calls // 4),
        }
    ctx.report.figure("formats_predict", figures)
    for label, f in figures.items():
        ctx.report.row(
            f"predict cost, {label} (in-process, the demo iris pipeline)",
            f"1 row {f['predict_1_us']:.0f} µs · 64 rows {f['predict_64_us']:.0f} µs · file {f['file_bytes']:,} B",
            "",
            None,
        )
    speedup = figures["pickle"]["predict_1_us"] / figures["onnx"]["predict_1_us"]
    ctx.report.row(
        "one-row predict: scikit-learn / ONNX (issue 15)",
        f"**{speedup:.1f}×** cheaper with ONNX",
        "several ×",
        speedup >= 2,
    )
