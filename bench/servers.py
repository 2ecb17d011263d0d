"""Start and stop the servers under test as real processes on 127.0.0.1.

Every server is pinned to SERVER_CPUS and the load generator (this process) to
CLIENT_CPUS when the machine has two cores or more, so the client never steals the
server's core. Ports are port 0 where the server can report what it bound (uvicorn's
"running on" line), else a free port picked just before the start.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
PEER_PY = ROOT / "bench" / "peers" / ".venv" / "bin" / "python"

NCPU = os.cpu_count() or 1
SERVER_CPUS = {0} if NCPU >= 2 else None
CLIENT_CPUS = set(range(1, NCPU)) if NCPU >= 2 else None

_UVICORN_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def pin_self() -> None:
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    """A child process whose output is collected; `port` comes from a regex or is given."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
        port_pattern: re.Pattern[str] | None = _UVICORN_PORT,
        ready_pattern: re.Pattern[str] | None = None,
        cpus: set[int] | None = SERVER_CPUS,
        log_file: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.port = port
        self.port_pattern = port_pattern if port is None else None
        self.ready_pattern = ready_pattern
        self.cpus = cpus
        self.lines: list[str] = []
        self.log_file = log_file
        self._ready = threading.Event()
        self._cond = threading.Condition()
        self.process: subprocess.Popen[str] | None = None
        self.started_at = 0.0
        self.ready_at = 0.0

    def start(self, timeout: float = 60.0) -> Proc:
        cpus = self.cpus

        def pre() -> None:
            os.setsid()
            _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=pre,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if self.port_pattern is None and self.ready_pattern is None:
            self._ready.set()
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n" + "\n".join(self.lines[-40:]))
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        sink = self.log_file.open("a") if self.log_file else None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if sink:
                sink.write(line + "\n")
            with self._cond:
                if len(self.lines) < 5000:
                    self.lines.append(line)
                self._cond.notify_all()
            if self.port_pattern is not None and self.port is None and (m := self.port_pattern.search(line)):
                self.port = int(m.group(1))
                if self.ready_pattern is None:
                    self.ready_at = time.perf_counter()
                    self._ready.set()
            if self.ready_pattern is not None and self.ready_pattern.search(line):
                self.ready_at = time.perf_counter()
                self._ready.set()
        if sink:
            sink.close()
        self._ready.set()

    def wait_line(self, pattern: re.Pattern[str], timeout: float = 10.0) -> str | None:
        with self._cond:
            return self._cond.wait_for(
                lambda: next((line for line in self.lines if pattern.search(line)), None), timeout
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def stop(self) -> None:
        p = self.process
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGINT)
            p.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)

    def __enter__(self) -> Proc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def regwatch(
    registry: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    access_log: bool = False,
    name: str = "regwatch",
) -> Proc:
    """`python -m api serve` on port 0 (access log off unless asked: see README)."""
    base = {
        "REGWATCH_ACCESS_LOG": "true" if access_log else "false",
        "REGWATCH_LOG_LEVEL": "info",
        "REGWATCH_RECONCILE_INTERVAL": "30",
    }
    return Proc(
        name,
        [
            PY,
            "-m",
            "regwatch.cli",
            "serve",
            "--registry",
            str(registry),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *args,
        ],
        env={**base, **(env or {})},
        cwd=cwd or ROOT,
    )


def baseline(model_path: Path, style: str = "bare") -> Proc:
    return Proc(
        f"baseline-{style}",
        [PY, str(ROOT / "bench" / "baseline_app.py"), str(model_path), "--style", style],
        cwd=ROOT,
    )


def trivial() -> Proc:
    """A fixed-response raw asyncio server: the load generator's own ceiling."""
    return Proc(
        "trivial",
        [PY, str(ROOT / "bench" / "trivial_server.py")],
        cwd=ROOT,
        port_pattern=re.compile(r"listening on (\d+)"),
    )


def mlserver(model_dir: Path) -> Proc:
    port = free_port()
    env = {
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLSERVER_LOGGING_LEVEL": "WARNING",
        "MLSERVER_DEBUG": "false",
    }
    return Proc(
        "mlserver",
        [str(PEER_PY.parent / "mlserver"), "start", str(model_dir)],
        env=env,
        cwd=model_dir,
        port=port,
        ready_pattern=re.compile(r"Uvicorn running on|Application startup complete"),
    )


def gateway(upstream_port: int, api_key: str) -> Proc:
    port = free_port()
    return Proc(
        "gateway",
        ["node", "src/server.js"],
        env={
            "API_KEYS": api_key,
            "UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}",
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "warn",
        },
        cwd=ROOT / "gateway",
        port=port,
        port_pattern=None,
        cpus=None,
    )


def wait_http(port: int, path: str = "/", timeout: float = 60.0, ok: tuple[int, ...] | None = (200,)) -> bool:
    """Block until GET path answers with one of `ok` (any status when None)."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(request)
                head = s.recv(64)
                if head[9:12].isdigit() and (ok is None or int(head[9:12]) in ok):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False
