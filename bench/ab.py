"""Measure a proposed change to the service before anyone applies it.

    .venv/bin/python bench/ab.py bench/proposals/predict-fast-path.diff [--rounds 4 --seconds 5]
        [--mlserver] [--baseline] [--memory] [--sse]

Copies the service packages (api/, registry/, events/, watcher/) of the working tree into
a temp folder, applies the diff there (`patch -p1`), and runs the current and the patched
service side by side: single-row /predict at c=16 in interleaved rounds (plus the bare
FastAPI baseline and MLServer when asked), and optionally the memory and SSE fan-out
figures. The working tree is never modified. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench import run as bench_run
from bench import servers

PACKAGES = ("api", "cli", "serving", "registry", "events", "watcher")


def patched_tree(diff: Path | None, where: Path) -> Path:
    tree = where / "tree"
    tree.mkdir()
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tree / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    if diff is not None:
        subprocess.run(["patch", "-p1", "-s", "-d", str(tree), "-i", str(diff.resolve())], check=True)
    return tree


async def main_async(args: argparse.Namespace, work: Path) -> dict:
    cfg = dict(bench_run.QUICK if args.quick else bench_run.FULL)
    cfg.update(rounds=args.rounds, round_s=args.seconds)
    b = bench_run.Bench(cfg, work)
    b.prepare()
    tree = patched_tree(Path(args.diff) if args.diff else None, work)
    other_root = work / "patched-registry"
    shutil.copytree(b.main_root / "versions", other_root / "versions")
    current = b.start(servers.regwatch(b.main_root, name="current"))
    patched = b.start(servers.regwatch(other_root, cwd=tree, name="patched"))
    targets = [
        {"name": "current", "port": current.port, "request": bench_run.PREDICT},
        {"name": "patched", "port": patched.port, "request": bench_run.PREDICT},
    ]
    if args.baseline:
        targets.append(
            {
                "name": "baseline",
                "port": b.start(servers.baseline(b.tpl.path)).port,
                "request": bench_run.PREDICT,
            }
        )
    if args.mlserver:
        m = await asyncio.to_thread(b.start_mlserver)
        if isinstance(m, servers.Proc):
            targets.append({"name": "mlserver", "port": m.port, "request": bench_run.V2_INFER})
    out: dict = {}
    if not args.no_predict:
        stats = await bench_run.interleave(
            targets, rounds=cfg["rounds"], seconds=cfg["round_s"], warmup=cfg["warmup_s"], concurrency=16
        )
        out["predict_c16"] = stats
        names = [t["name"] for t in targets]
        out["ratios"] = {
            f"{a}/{c}": bench_run.ratio(stats, a, c) for a in ("current", "patched") for c in names if c != a
        }
    b.stop_all()
    if args.sse or args.memory:
        for label, cwd in (("current", ROOT), ("patched", tree)):
            sub = bench_run.Bench(
                dict(cfg, sse_publishes=args.sse_publishes, memory_swaps=args.memory_swaps), work / label
            )
            (work / label).mkdir()
            sub.prepare()
            orig = servers.regwatch

            def with_cwd(*a, _orig=orig, _cwd=cwd, **kw):
                kw.setdefault("cwd", _cwd)
                return _orig(*a, **kw)

            servers.regwatch = with_cwd
            try:
                if args.sse:
                    sub.main = sub.start(servers.regwatch(sub.main_root, name=f"{label}-sse"))
                    await sub.sse_fanout()
                    sub.main.stop()
                if args.memory:
                    await sub.memory()
            finally:
                servers.regwatch = orig
                sub.stop_all()
            out[label] = {k: v for k, v in sub.results["figures"].items() if k in ("sse_fanout", "memory")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("diff", nargs="?", help="a unified diff against the repository root (-p1); none: A/A")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--baseline", action="store_true", help="add the bare FastAPI baseline")
    ap.add_argument("--mlserver", action="store_true", help="add MLServer (bench/peers/.venv)")
    ap.add_argument("--no-predict", action="store_true")
    ap.add_argument("--sse", action="store_true", help="SSE fan-out, current then patched")
    ap.add_argument("--sse-publishes", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="memory figure, current then patched")
    ap.add_argument("--memory-swaps", type=int, default=60)
    args = ap.parse_args()
    servers.pin_self()
    servers.raise_nofile()
    work = Path(tempfile.mkdtemp(prefix="regwatch-ab-"))
    try:
        import uvloop

        out = uvloop.run(main_async(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
