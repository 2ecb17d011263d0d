"""What a run reports: table rows against targets, raw figures, the machine it ran on.

A row never fails the run: `met` is True, False ("missed"), None ("n/a") or a word of
its own ("error")."""

import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "scikit-learn",
    "numpy",
    "joblib",
    "watchdog",
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Report:
    def __init__(self, mode: str) -> None:
        self.rows: list[tuple[str, str, str, str]] = []
        self.results: dict[str, Any] = {"mode": mode, "figures": {}, "phase_seconds": {}}

    def row(self, figure: str, measured: str, target: str, met: bool | str | None) -> None:
        verdict = met if isinstance(met, str) else {True: "met", False: "**missed**", None: "n/a"}[met]
        self.rows.append((figure, measured, target, verdict))

    def figure(self, key: str, value: Any) -> None:
        self.results["figures"][key] = value

    def error(self, name: str, exc: BaseException, trace: str) -> None:
        self.results["figures"].setdefault("errors", {})[name] = trace
        self.row(name, f"error: {type(exc).__name__}: {str(exc)[:120]}", "", "error")

    def table(self) -> str:
        out = ["| figure | measured | target | |", "| --- | --- | --- | --- |"]
        out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return "\n".join(out)

    def header(self, seconds: float) -> str:
        m = self.results["machine"]
        return (
            f"regwatch bench ({self.results['mode']}) at {m['commit']}: {m['cores']} cores ({m['cpu']}), "
            f"Python {m['python']}, {', '.join(f'{k} {v}' for k, v in m['packages'].items())}"
            + (f", MLServer {m['mlserver']}" if m.get("mlserver") else "")
            + (f", node {m['node']}" if m.get("node") else "")
            + f"; {m['pinning']}; run took {seconds:.0f} s"
        )

    def write(self, folder: Path) -> Path:
        """bench-<mode>-<time>.json and latest-<mode>.json; returns the first."""
        folder.mkdir(parents=True, exist_ok=True)
        stamped = folder / f"bench-{self.results['mode']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        text = json.dumps({**self.results, "table": self.rows}, indent=2, default=str)
        for path in (stamped, folder / f"latest-{self.results['mode']}.json"):
            path.write_text(text)
        return stamped


def machine(pinning: str) -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return pkg_version(name)
        except PackageNotFoundError:
            return "-"

    cpu = "?"
    with contextlib.suppress(OSError):
        names = (
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")
        )
        cpu = next((line.split(":", 1)[1].strip() for line in names), "?")
    node = shutil.which("node")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in PACKAGES},
        "node": subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        if node
        else None,
        "pinning": pinning,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }
