"""regwatch benchmark suite: `make bench` (full, ≤ 10 min) or `make bench-quick` (a few minutes).

Every ratio is measured in one run side by side with its baseline, interleaved in short
rounds (A B, then B A, ...) so that drift on a noisy 2-core machine hits both sides
alike; ratios are the median of the per-round ratios. Servers are pinned to core 0 and
this process (the load generator) to core 1. Prints a markdown table and writes
`bench/results/bench-<mode>-<time>.json` (and `latest-<mode>.json`).

Benchmarks report numbers; they never fail the build. A "missed" in the table means a
target (of issue 7 or 12, as the row says) is not met by this run.
"""

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import uvloop

from bench import servers
from bench.config import FULL, QUICK
from bench.context import Bench
from bench.report import Report, log, machine
from bench.scenarios import SCENARIOS, Scenario


async def run(ctx: Bench, selected: list[Scenario]) -> None:
    """Each scenario in turn; a broken one is reported as an error row and the rest still run."""
    for i, scenario in enumerate(selected):
        log(f"{scenario.name} ...")
        t0 = time.perf_counter()
        try:
            await ctx.provide(scenario.needs)
            await scenario.run(ctx)
        except Exception as exc:
            log(f"{scenario.name} FAILED: {exc!r}")
            ctx.report.error(scenario.name, exc, traceback.format_exc())
        finally:
            ctx.release(set().union(*(s.needs for s in selected[i + 1 :])))
        ctx.report.results["phase_seconds"][scenario.name] = round(time.perf_counter() - t0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer trials, shorter runs, no MLServer, N ≤ 1,000")
    ap.add_argument("--mlserver", action="store_true", help="measure MLServer even with --quick")
    ap.add_argument(
        "--only",
        action="append",
        choices=[s.key for s in SCENARIOS],
        help="run only this scenario (repeatable)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the work folder (registries, server logs)")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="where the JSON results go")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    if args.mlserver:
        cfg = replace(cfg, mlserver=True)
    selected = [s for s in SCENARIOS if not args.only or s.key in args.only]
    servers.pin_self()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="regwatch-bench-"))
    report = Report("quick" if cfg.quick else "full")
    report.results |= {
        "machine": machine(servers.PINNING),
        "started": datetime.now().isoformat(timespec="seconds"),
        "config": cfg.as_dict(),
        "scenarios": [s.name for s in selected],
    }
    ctx = Bench(cfg, work, report)
    try:
        uvloop.run(run(ctx, selected))
    finally:
        ctx.stop_all()
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - started
    report.results["seconds"] = round(elapsed, 1)
    path = report.write(args.out)
    print(f"\n{report.header(elapsed)}\n\n{report.table()}\n\nresults: {path}")


if __name__ == "__main__":
    main()
