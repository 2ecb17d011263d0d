"""Measure a proposed change to the service before anyone applies it.

    .venv/bin/python bench/ab.py bench/proposals/NAME.diff [--rounds 4 --seconds 5]
        [--baseline] [--mlserver] [--no-predict] [--sse] [--memory]

Lays the code packages of the working tree out as they are installed (`regwatch/<package>`,
pyproject.toml's package-dir) in a temp folder, applies the diff there (`patch -p1`, a diff
against the repository root that touches only those packages), checks that a server
started on that tree imports it, and runs the current and the patched service side by
side: single-row /predict at c=16 in interleaved rounds (plus the bare FastAPI baseline
and MLServer when asked), and optionally the SSE fan-out and memory scenarios, current
then patched. Without a diff it is an A/A run. The working tree is never modified. Prints
JSON.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import uvloop

from bench import peers, servers
from bench.config import FULL, QUICK, Config
from bench.context import MAIN, Bench
from bench.measure import Target, interleave, ratio, wait_serving
from bench.report import Report
from bench.scenarios import memory, sse
from tests.support.server import REPO

PACKAGES = ("registry", "events", "watcher", "fleet", "serving", "api", "cli")


def patched_tree(diff: Path | None, where: Path) -> Path:
    """`where/tree`, importable as `regwatch.*` with PYTHONPATH=tree, the diff applied."""
    tree = where / "tree"
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, tree / "regwatch" / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if diff is not None:
        subprocess.run(
            ["patch", "-p1", "-s", "-d", str(tree / "regwatch"), "-i", str(diff.resolve())], check=True
        )
    check = "import importlib, sys; print(*(importlib.import_module('regwatch.' + p).__file__ for p in sys.argv[1:]))"
    files = subprocess.run(
        [sys.executable, "-c", check, *PACKAGES],
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not all(Path(f).is_relative_to(tree) for f in files):
        raise RuntimeError(f"the patched tree is not what gets imported: {files}")
    return tree


async def predict(cfg: Config, work: Path, tree: Path, baseline: bool) -> dict[str, Any]:
    ctx = Bench(cfg, work, Report("ab"))
    try:
        patched_root = work / "patched-registry"
        shutil.copytree(ctx.main_root / "versions", patched_root / "versions")
        current = ctx.regwatch(ctx.main_root, name="current")
        patched = ctx.start(servers.regwatch(patched_root, code=tree, name="patched"))
        targets = [Target("current", current.port), Target("patched", patched.port)]
        for target in targets:  # a cold start loads the model after /healthz answers: not measured
            if await wait_serving(target.port, "1.0.0", 60) is None:
                raise RuntimeError(f"{target.name} did not serve 1.0.0 within 60 s")
        if baseline or cfg.mlserver:
            others = await peers.start(ctx)
            wanted = (["baseline"] if baseline else []) + [peers.PLAIN, peers.BEST]
            targets += [others.targets[n] for n in wanted if n in others.targets]
        stats = await interleave(
            targets, rounds=cfg.rounds, seconds=cfg.round_s, warmup=cfg.warmup_s, concurrency=16
        )
    finally:
        ctx.stop_all()
    names = [t.name for t in targets]
    return {
        "predict_c16": stats,
        "ratios": {f"{a}/{b}": ratio(stats, a, b) for a in ("current", "patched") for b in names if b != a},
    }


async def scenarios(cfg: Config, work: Path, tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, code in (("current", None), ("patched", tree)):
        ctx = Bench(cfg, work / label, Report("ab"), code=code)
        try:
            if args.sse:
                await ctx.provide(frozenset({MAIN}))
                await sse.run(ctx)
                ctx.release(set())
            if args.memory:
                await memory.run(ctx)
        finally:
            ctx.stop_all()
        out[label] = ctx.report.results["figures"]
    return out


async def main_async(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    cfg = replace(
        QUICK if args.quick else FULL,
        rounds=args.rounds,
        round_s=args.seconds,
        naive=False,
        mlserver=args.mlserver,
        sse_publishes=args.sse_publishes,
        memory_swaps=args.memory_swaps,
    )
    tree = patched_tree(Path(args.diff) if args.diff else None, work)
    out: dict[str, Any] = {}
    if not args.no_predict:
        out |= await predict(cfg, work / "predict", tree, args.baseline)
    if args.sse or args.memory:
        out |= await scenarios(cfg, work, tree, args)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("diff", nargs="?", help="a unified diff against the repository root (-p1); none: A/A")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--baseline", action="store_true", help="add the bare FastAPI baseline")
    ap.add_argument(
        "--mlserver", action="store_true", help="add MLServer, without batching and its best configuration"
    )
    ap.add_argument("--no-predict", action="store_true")
    ap.add_argument("--sse", action="store_true", help="SSE fan-out, current then patched")
    ap.add_argument("--sse-publishes", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="memory figure, current then patched")
    ap.add_argument("--memory-swaps", type=int, default=60)
    args = ap.parse_args()
    servers.pin_self()
    work = Path(tempfile.mkdtemp(prefix="regwatch-ab-"))
    try:
        out = uvloop.run(main_async(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
