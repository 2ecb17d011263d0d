"""Side-by-side load: targets run in alternating short rounds (A B, then B A, ...), so that
drift on a noisy 2-core machine hits every side alike; ratios are the median of the
per-round ratios."""

import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from bench import loadgen
from bench.loadgen import percentile
from bench.report import log
from bench.workload import PREDICT


@dataclass(frozen=True)
class Target:
    """One side of a comparison: a server, the request it gets, and what runs meanwhile
    (`during` makes a fresh async context per round; its value is kept per round)."""

    name: str
    port: int
    request: bytes = PREDICT
    during: Callable[[], AbstractAsyncContextManager[Any]] | None = None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def pct_ms(values: list[float]) -> dict[str, Any]:
    v = sorted(values)
    if not v:
        return {"n": 0}
    return {
        "n": len(v),
        "p50_ms": ms(percentile(v, 50)),
        "p95_ms": ms(percentile(v, 95)),
        "p99_ms": ms(percentile(v, 99)),
        "max_ms": ms(v[-1]),
    }


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield None


async def interleave(
    targets: list[Target], *, rounds: int, seconds: float, warmup: float, concurrency: int
) -> dict[str, dict[str, Any]]:
    """Run every target for `seconds` per round, rounds alternating the order.

    Returns per target: median and per-round req/s, pooled latency percentiles, errors."""
    per: dict[str, list[tuple[loadgen.LoadResult, Any]]] = {t.name: [] for t in targets}
    for r in range(rounds):
        for t in targets if r % 2 == 0 else targets[::-1]:
            async with (t.during or _nothing)() as extra:
                res = await loadgen.run_load(
                    "127.0.0.1",
                    t.port,
                    t.request,
                    concurrency=concurrency,
                    duration=seconds,
                    warmup=warmup,
                )
            per[t.name].append((res, extra))
            p99 = percentile(sorted(res.latencies), 99) * 1000
            log(f"  round {r + 1}/{rounds} {t.name} c={concurrency}: {res.rps:.0f} req/s p99 {p99:.1f} ms")
    out: dict[str, dict[str, Any]] = {}
    for name, results in per.items():
        pooled = sorted(x for res, _ in results for x in res.latencies)
        out[name] = {
            "rps_rounds": [round(res.rps, 1) for res, _ in results],
            "p50_ms_rounds": [ms(percentile(sorted(res.latencies), 50)) for res, _ in results],
            "rps": round(statistics.median(res.rps for res, _ in results), 1),
            "p50_ms": ms(percentile(pooled, 50)),
            "p99_ms": ms(percentile(pooled, 99)),
            "requests": sum(res.requests for res, _ in results),
            "non_2xx": sum(res.non_2xx for res, _ in results),
            "conn_errors": sum(res.conn_errors for res, _ in results),
            "errors": [e for res, _ in results for e in res.error_samples][:5],
        }
        if any(extra is not None for _, extra in results):
            out[name]["during"] = [extra for _, extra in results]
    return out


def ratio(stats: dict[str, dict[str, Any]], a: str, b: str) -> float:
    """Median over rounds of req/s(a) / req/s(b) (rounds are paired by index)."""
    ra, rb = stats[a]["rps_rounds"], stats[b]["rps_rounds"]
    return round(float(statistics.median(x / y for x, y in zip(ra, rb, strict=True) if y)), 3)


async def expect_ok(port: int, request: bytes, what: str) -> None:
    """One request before a measurement: a side that answers an error is not measured."""
    client = loadgen.Client("127.0.0.1", port)
    try:
        status, body = await client.send(request)
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"{what} answered {status}: {body[:200]!r}")


async def wait_serving(port: int, version: str, timeout: float, request: bytes = PREDICT) -> float | None:
    """Poll /predict back to back until `version` answers; the perf_counter time it did."""
    client = loadgen.Client("127.0.0.1", port)
    deadline = time.perf_counter() + timeout
    try:
        while time.perf_counter() < deadline:
            status, body = await client.send(request)
            if status == 200 and json.loads(body).get("model_version") == version:
                return time.perf_counter()
        return None
    finally:
        client.close()
