"""The servers regwatch's predict path is compared with, started once for the throughput
and latency scenarios: a bare FastAPI app (and, in the full run, the naive tutorial
handler), and MLServer in the configuration that does best here.

MLServer's best configuration is chosen by a sweep: without batching and every
`mlserver.CONFIGS` adaptive-batching setting run side by side at c=16 (interleaved
rounds); the fastest by median req/s is kept, and so is the one without batching (the
issue 7 comparison)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench import mlserver, servers
from bench.measure import Target, expect_ok, interleave
from bench.mlserver import Batching
from bench.report import log
from bench.workload import V2_INFER
from tests.support.server import ServiceProcess

if TYPE_CHECKING:
    from bench.context import Bench

PLAIN = "mlserver"
BEST = "mlserver-best"


@dataclass
class Peers:
    targets: dict[str, Target] = field(default_factory=dict)
    procs: list[ServiceProcess] = field(default_factory=list)
    mlserver_note: str = ""  # why MLServer is not measured ("" when it is)
    best: Batching | None = None  # MLServer's best configuration (None: no batching)

    @property
    def best_name(self) -> str | None:
        """The target that is MLServer's best configuration, when MLServer runs."""
        if PLAIN not in self.targets:
            return None
        return BEST if BEST in self.targets else PLAIN

    @property
    def best_label(self) -> str:
        return f"adaptive batching: {self.best.label}" if self.best else "no batching"


async def start(ctx: Bench) -> Peers:
    peers = Peers()
    styles = ("bare", "naive") if ctx.cfg.naive else ("bare",)
    for style in styles:
        name = "baseline" if style == "bare" else style
        proc = ctx.start(servers.baseline(ctx.tpl.path, style))
        peers.procs.append(proc)
        peers.targets[name] = Target(name, proc.port)
    if not ctx.cfg.mlserver:
        peers.mlserver_note = "skipped in bench-quick (--mlserver measures it)"
        return peers
    note = await asyncio.to_thread(mlserver.install)
    if note:
        peers.mlserver_note = note
        return peers
    ctx.report.results["machine"]["mlserver"] = await asyncio.to_thread(mlserver.version)
    await _sweep(ctx, peers)
    return peers


async def _sweep(ctx: Bench, peers: Peers) -> None:
    configs = {
        (PLAIN if b is None else f"mlserver-batching-{i}"): b for i, b in enumerate((None, *mlserver.CONFIGS))
    }
    procs = [
        servers.mlserver(
            mlserver.model_dir(ctx.work / name, ctx.tpl.path, b), workers=b.workers if b else 0, name=name
        )
        for name, b in configs.items()
    ]
    started = await asyncio.gather(
        *(asyncio.to_thread(ctx.start, p, 90) for p in procs), return_exceptions=True
    )
    candidates: dict[str, tuple[Batching | None, ServiceProcess]] = {}
    for (name, b), p, outcome in zip(configs.items(), procs, started, strict=True):
        if isinstance(outcome, BaseException):  # one configuration that cannot start is left out
            log(f"  {name} ({b.label if b else 'no batching'}) did not start: {outcome!r}")
            ctx.report.figure(f"{name}_failed", repr(outcome))
        else:
            candidates[name] = (b, p)
    if PLAIN not in candidates:
        raise RuntimeError("MLServer without batching did not start: see the figures and its log")
    targets = [Target(name, proc.port, V2_INFER) for name, (_, proc) in candidates.items()]
    for t in targets:
        await expect_ok(t.port, t.request, t.name)
    stats = await interleave(
        targets,
        rounds=ctx.cfg.mlserver_sweep_rounds,
        seconds=ctx.cfg.mlserver_sweep_s,
        warmup=0.5,
        concurrency=16,
    )
    best = max(stats, key=lambda name: stats[name]["rps"])
    peers.best = candidates[best][0]
    log(f"  MLServer's best configuration at c=16: {peers.best_label}")
    ctx.report.figure(
        "mlserver_sweep_c16",
        {name: {**stats[name], "config": candidates[name][0]} for name in stats},
    )
    ctx.report.row(
        "(reference) MLServer 1.7 configurations, 1 row, c=16 (sweep; the best is compared below)",
        "; ".join(
            f"{(b.label if b else 'no batching')}: {stats[name]['rps']:,.0f} req/s"
            + (" (best)" if name == best else "")
            for name, (b, _) in candidates.items()
        ),
        "",
        None,
    )
    for name, (_, proc) in candidates.items():
        if name in (PLAIN, best):
            kept = PLAIN if name == PLAIN else BEST
            peers.targets[kept] = Target(kept, proc.port, V2_INFER)
            peers.procs.append(proc)
        else:
            proc.stop()
