"""SSE fan-out: 1,000 `/events` subscribers (raw asyncio connections) on the main server,
then versions are dropped in; per subscriber, the delay from the `model_loaded` event's
own `at` stamp to its receipt (same clock), and from the rename to the receipt."""

import asyncio
import contextlib
import gc
import os
import time
from datetime import datetime
from typing import Any

from bench import loadgen
from bench.context import Bench
from bench.measure import pct_ms


class Arrivals:
    """Per version, (received, `at`) of each subscriber's model_loaded; an event once all have it."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.times: dict[str, list[tuple[float, float]]] = {}
        self.everyone: dict[str, asyncio.Event] = {}

    def add(self, data: dict[str, str], now: float) -> None:
        at = datetime.fromisoformat(data["at"].replace("Z", "+00:00")).timestamp()
        times = self.times.setdefault(data["version"], [])
        times.append((now, at))
        if len(times) == self.subscribers:
            self.reached_all(data["version"]).set()

    def reached_all(self, version: str) -> asyncio.Event:
        return self.everyone.setdefault(version, asyncio.Event())


async def _subscribe(ctx: Bench, arrivals: Arrivals) -> list[loadgen.SseConn]:
    """The subscribers, opened 100 at a time, each past its snapshot."""
    n = arrivals.subscribers

    conns: list[loadgen.SseConn] = []
    for i in range(0, n, 100):
        batch = await asyncio.gather(
            *(
                loadgen.open_sse("127.0.0.1", ctx.main_port, "model_loaded", arrivals.add)
                for _ in range(min(100, n - i))
            )
        )
        await asyncio.wait_for(asyncio.gather(*(c.snapshot for c in batch)), 30)
        conns.extend(batch)
    return conns


async def run(ctx: Bench) -> None:
    n, publishes = ctx.cfg.sse_subscribers, ctx.cfg.sse_publishes
    arrivals = Arrivals(n)
    t0 = time.perf_counter()
    conns = await _subscribe(ctx, arrivals)
    connect_s = time.perf_counter() - t0
    delays: list[float] = []
    from_publish: list[float] = []
    complete = 0
    # This process holds every earlier phase's results: keep a full GC pass of its own
    # heap out of the receive timestamps (it showed up as one ~200 ms slow publish).
    gc.collect()
    gc.freeze()
    for _ in range(publishes):
        v = ctx.versions.next()
        ctx.tpl.build(ctx.staging / v)
        await asyncio.sleep(0.1)
        wall0 = time.time()
        os.rename(ctx.staging / v, ctx.main_root / "versions" / v)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrivals.reached_all(v).wait(), 10)
        times = arrivals.times.get(v, [])
        complete += len(times) == n
        delays += [max(0.0, now - at) for now, at in times]
        from_publish += [now - wall0 for now, _ in times]
        await asyncio.sleep(0.3)
    gc.unfreeze()
    alive = sum(not c.closed for c in conns)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    d = pct_ms(delays)
    out: dict[str, Any] = {
        "subscribers": n,
        "connect_seconds": round(connect_s, 2),
        "publishes": publishes,
        "publishes_reaching_all": complete,
        "still_connected": alive,
        "delivery_delay": d,
        "publish_to_receive": pct_ms(from_publish),
    }
    ctx.report.figure("sse_fanout", out)
    ok = d.get("n") and d["p99_ms"] <= 200 and complete == publishes
    ctx.report.row(
        f"SSE fan-out: {n} /events subscribers, model_loaded delivery ({publishes} publishes)",
        f"p50 {d.get('p50_ms')} ms, **p99 {d.get('p99_ms')} ms**, max {d.get('max_ms')} ms "
        f"(event `at` → received; rename → received p50 {out['publish_to_receive'].get('p50_ms')} ms); "
        f"{complete}/{publishes} publishes reached all",
        "p99 ≤ 200 ms",
        bool(ok),
    )
