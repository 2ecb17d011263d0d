"""Scale: registries of N versions (model files hard-linked to save disk).

Discovery = time to "Uvicorn running" with N versions minus the same with 1 version (the
process's own start-up); the in-process `ModelRegistry(root).scan()` is shown too (page
cache warm). One-version update: in process, `ModelRegistry.refresh(name)` (inspect +
apply) and `VersionIndex.apply` alone, then what the server runs next after every change
(`index.candidates()`); then end to end, rename → first `/predict` by it, on a server
holding N versions. `GET /models` is timed sequentially."""

import asyncio
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.context import Bench
from bench.measure import pct_ms, wait_serving
from bench.report import log

STARTUP_LINE = re.compile(r"watching .* versions")


def _in_process(ctx: Bench, root: Path, n: int) -> dict[str, Any]:
    from regwatch.registry import ModelRegistry, Status, VersionState

    t0 = time.perf_counter()
    reg = ModelRegistry(root, scan=True)  # page cache warm: the folders were just written
    r: dict[str, Any] = {"inprocess_scan_seconds": round(time.perf_counter() - t0, 3)}
    assert len(reg.index) == n, (len(reg.index), n)
    refresh, apply_, cand, latest = [], [], [], []
    for k in range(ctx.cfg.scale_trials):
        name = f"9.{n}.{k}"
        ctx.tpl.build(root / "staging" / name, link=True)
        os.rename(root / "staging" / name, root / "versions" / name)
        t0 = time.perf_counter()
        reg.refresh(name)
        refresh.append(time.perf_counter() - t0)
        state = reg.index.state(name)
        assert state is not None and state.status is Status.COMPLETE
        reg.index.apply(VersionState(name, Status.MISSING))  # then time its re-adding alone
        t0 = time.perf_counter()
        reg.index.apply(state)
        apply_.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reg.index.latest()
        latest.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reg.index.candidates()  # what LiveModel.reconcile() runs after every change
        cand.append(time.perf_counter() - t0)
    r |= {
        "refresh": pct_ms(refresh),
        "index_apply": pct_ms(apply_),
        "latest": pct_ms(latest),
        "candidates_after_change": pct_ms(cand),
    }
    return r


async def _server(ctx: Bench, root: Path, n: int, base_ready: float) -> dict[str, Any]:
    p = ctx.regwatch(root, name=f"regwatch-scale-{n}", timeout=120)
    r: dict[str, Any] = {
        "ready_seconds": round(p.ready_seconds, 3),
        "discovery_seconds": round(p.ready_seconds - base_ready, 3),
    }
    try:
        r["startup_log"] = p.wait_for_line(lambda line: bool(STARTUP_LINE.search(line)), 1)[-160:]
    except TimeoutError:
        r["startup_log"] = ""
    e2e = []
    for k in range(ctx.cfg.scale_e2e_trials):
        name = f"10.{n}.{k}"
        ctx.tpl.build(root / "staging" / name)
        await asyncio.sleep(0.06)
        t0 = time.perf_counter()
        os.rename(root / "staging" / name, root / "versions" / name)
        t1 = await wait_serving(p.port, name, 10.0)
        if t1 is not None:
            e2e.append(t1 - t0)
        await asyncio.sleep(0.1)
    r["e2e_drop_to_serve"] = pct_ms(e2e)
    client = loadgen.Client("127.0.0.1", p.port)
    lat, size = [], 0
    for _ in range(ctx.cfg.models_requests):
        t0 = time.perf_counter()
        _status, body = await client.send(loadgen.get("/models"))
        lat.append(time.perf_counter() - t0)
        size = len(body)
    client.close()
    r["get_models"] = {**pct_ms(lat), "bytes": size}
    p.stop()
    return r


async def run(ctx: Bench) -> None:
    ns = ctx.cfg.scale_ns
    one = ctx.work / "scale-1"
    ctx.tpl.build(one / "versions" / "0.0.1", link=True)
    p = ctx.regwatch(one, name="regwatch-scale-1")
    base_ready = p.ready_seconds
    p.stop()
    results: dict[int, dict[str, Any]] = {}
    for n in ns:
        root = ctx.work / f"scale-{n}"
        t0 = time.perf_counter()
        for i in range(n):
            ctx.tpl.build(root / "versions" / f"1.{i // 1000}.{i % 1000}", link=True)
        r: dict[str, Any] = {"build_seconds": round(time.perf_counter() - t0, 2)}
        r |= _in_process(ctx, root, n)
        r |= await _server(ctx, root, n, base_ready)
        results[n] = r
        log(
            f"  N={n}: ready {r['ready_seconds']:.2f}s, refresh p50 {r['refresh']['p50_ms']} ms, "
            f"apply p50 {r['index_apply']['p50_ms']} ms, candidates p50 {r['candidates_after_change']['p50_ms']} ms, "
            f"e2e p50 {r['e2e_drop_to_serve'].get('p50_ms')} ms, GET /models p50 {r['get_models']['p50_ms']} ms"
        )
        if n != max(ns):
            shutil.rmtree(root, ignore_errors=True)
    ctx.report.figure(
        "scale", {"ready_seconds_1_version": round(base_ready, 3), **{str(k): v for k, v in results.items()}}
    )
    _rows(ctx, results, base_ready)


def _rows(ctx: Bench, results: dict[int, dict[str, Any]], base_ready: float) -> None:
    row = ctx.report.row
    ns = sorted(results)
    big = results[ns[-1]]
    row(
        f"cold start-up discovery, {ns[-1]:,} versions",
        f"**{big['discovery_seconds']:.2f} s** (server ready {big['ready_seconds']:.2f} s − {base_ready:.2f} s for 1 version; "
        f"in-process scan {big['inprocess_scan_seconds']:.2f} s)",
        "≤ 2 s",
        big["discovery_seconds"] <= 2.0,
    )
    refresh = {n: results[n]["refresh"]["p50_ms"] for n in ns}
    row(
        "index one new version (refresh = inspect + apply / apply alone, p50 ms)",
        ", ".join(f"N={n:,}: {refresh[n]} / {results[n]['index_apply']['p50_ms']}" for n in ns),
        "≤ 5 ms, independent of N",
        max(refresh.values()) <= 5.0 and refresh[ns[-1]] <= 2 * refresh[ns[0]] + 0.2,
    )
    cand = {n: results[n]["candidates_after_change"]["p50_ms"] for n in ns}
    row(
        "  after each change the server also runs index.candidates() (p50 ms)",
        ", ".join(f"N={n:,}: {cand[n]}" for n in ns),
        "≤ 5 ms, independent of N",
        cand[ns[-1]] <= 5.0 and cand[ns[-1]] <= 2 * cand[ns[0]] + 0.2,  # O(N log N) sorts show up here
    )
    row(
        "  end to end: rename → first /predict by it (p50 ms)",
        ", ".join(f"N={n:,}: {results[n]['e2e_drop_to_serve'].get('p50_ms')}" for n in ns),
        "flat in N",
        None,
    )
    gm = big["get_models"]
    row(
        f"GET /models at {ns[-1]:,} versions",
        f"p50 **{gm['p50_ms']} ms**, p95 {gm['p95_ms']} ms ({gm['bytes'] / 1e6:.1f} MB)",
        "p50 ≤ 100 ms",
        gm["p50_ms"] <= 100,
    )
