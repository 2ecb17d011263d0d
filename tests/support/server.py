"""Real processes on 127.0.0.1, waited for on what they print, never by sleeping.

The one process harness of the repository: the tests import it as `support.server` (the
conftest puts `tests/` on the path) and the benchmarks as `tests.support.server` (bench
scripts put the repository root on the path). It only uses the standard library, so both
can import it before anything else.

A process is ready when it prints its port (`port_pattern`, for servers that bind port 0)
or, for one started on a given port that announces nothing at the log level it runs with,
when a `ready` probe of that port succeeds; the probe is retried each time the process
prints a line or exits, and at most every `PROBE_TICK` seconds otherwise.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

START_TIMEOUT = 30.0
PROBE_TICK = 0.05
REPO = Path(__file__).resolve().parents[2]
UVICORN_PORT = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"

Probe = Callable[[int], bool]


class ServiceProcess:
    """A child process in its own session, listening on 127.0.0.1. Its output is kept
    (`lines`, and `log_file` when set) for assertions and post-mortems.

    `cpus` pins it (the benchmarks keep servers off the load generator's core)."""

    def __init__(
        self,
        command: list[str],
        port_pattern: str | None = None,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        ready: Probe | None = None,
        cwd: Path = REPO,
        cpus: set[int] | None = None,
        name: str | None = None,
    ) -> None:
        if (port_pattern is None) == (port is None):
            raise ValueError("give either a port_pattern (the process reports its port) or a port")
        self.command = command
        self.name = name or Path(command[0]).name
        self.port_pattern = re.compile(port_pattern) if port_pattern else None
        self._port = port
        self.ready = ready
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.cpus = cpus
        self.log_file: Path | None = None  # set before start() to also write the output there
        self.lines: list[str] = []
        self.started_at = 0.0
        self.ready_at = 0.0
        self._new_line = threading.Condition()
        self._ended = False
        self._process: subprocess.Popen[str] | None = None

    @property
    def port(self) -> int:
        assert self._port is not None, f"{self.name} has not reported its port"
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    @property
    def ready_seconds(self) -> float:
        """From the start to the moment it reported ready (its own start-up cost)."""
        return self.ready_at - self.started_at

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        cpus = self.cpus
        self.started_at = time.perf_counter()
        self._process = subprocess.Popen(
            self.command,
            stderr=subprocess.STDOUT,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # stop() signals its whole group (workers included)
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        threading.Thread(target=self._read_output, name=f"{self.name}-output", daemon=True).start()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.ready_at = time.perf_counter()
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._new_line:
            self._new_line.wait_for(lambda: self._port is not None or self._ended, timeout)
        while self._port is not None and not self._ended:
            if self.ready is None or self.ready(self._port):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self._new_line:
                self._new_line.wait(min(PROBE_TICK, left))
        why = "its output ended" if self._ended else f"not ready within {timeout} s"
        raise RuntimeError(f"{self.name} did not start ({why}):\n" + self.log_text())

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        sink = self.log_file.open("a") if self.log_file else None
        try:
            for raw in self._process.stdout:
                line = raw.rstrip("\n")
                if sink:
                    sink.write(raw)
                with self._new_line:
                    self.lines.append(line)
                    if self._port is None and self.port_pattern and (match := self.port_pattern.search(line)):
                        self._port = int(match.group(1))
                    self._new_line.notify_all()
        finally:
            if sink:
                sink.close()
            with self._new_line:
                self._ended = True  # the process closed its output: wake every waiter
                self._new_line.notify_all()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 10.0) -> str:
        """Block until a log line satisfies `predicate` (already-seen lines count)."""
        with self._new_line:
            found = self._new_line.wait_for(
                lambda: next((line for line in self.lines if predicate(line)), None), timeout
            )
        if found is None:
            raise TimeoutError(f"no matching log line from {self.name}:\n" + self.log_text())
        return found

    def rss(self) -> int:
        """Resident memory in bytes (from /proc)."""
        with open(f"/proc/{self.pid}/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmRSS:"))
        return int(kib) * 1024

    def send_signal(self, sig: int) -> None:
        assert self._process is not None
        self._process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has ended (TimeoutExpired if it does not)."""
        assert self._process is not None
        return self._process.wait(timeout)

    def stop(self) -> None:
        """SIGINT to its process group (as Ctrl-C would), SIGKILL if it is still there in 10 s."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            process.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess(ServiceProcess):
    """`regwatch serve` on a free port of 127.0.0.1.

    `code` runs another copy of the packages (a tree holding `regwatch/<package>`, as
    `bench/ab.py` lays out) instead of the installed ones."""

    def __init__(
        self,
        registry: Path,
        *args: str,
        env: dict[str, str] | None = None,
        code: Path | None = None,
        cpus: set[int] | None = None,
        name: str = "regwatch",
    ) -> None:
        self.registry = registry
        path = {"PYTHONPATH": str(code)} if code else {}
        super().__init__(
            [
                sys.executable,
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
            UVICORN_PORT,
            {"REGWATCH_RECONCILE_INTERVAL": "30", **path, **(env or {})},
            cwd=code or REPO,
            cpus=cpus,
            name=name,
        )


class GatewayProcess(ServiceProcess):
    """The Fastify gateway (`node gateway/src/server.js`) in front of `upstream` (one URL:
    `UPSTREAM_URL`; a list: `UPSTREAM_URLS`): on a free port it reports, or on `port` (then
    ready once it answers HTTP: at LOG_LEVEL=warn it prints nothing when it starts)."""

    def __init__(
        self,
        upstream: str | list[str],
        api_keys: str,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
    ) -> None:
        upstreams = (
            {"UPSTREAM_URL": upstream} if isinstance(upstream, str) else {"UPSTREAM_URLS": ",".join(upstream)}
        )
        super().__init__(
            ["node", "gateway/src/server.js"],
            None if port else r"Server listening at http://127\.0\.0\.1:(\d+)",
            upstreams | {"API_KEYS": api_keys, "PORT": str(port or 0), "HOST": "127.0.0.1"} | (env or {}),
            port=port,
            ready=(lambda p: http_status(p, "/healthz") is not None) if port else None,
            name="gateway",
        )


def free_port() -> int:
    """A port free right now, for a server that cannot bind port 0 and report it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_status(port: int, path: str = "/") -> int | None:
    """One GET on 127.0.0.1: its status, or None when nothing answers (a readiness probe)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()
