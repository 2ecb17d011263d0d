"""Run the services as real processes on 127.0.0.1 and wait for them without sleeping."""

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """A child process that listens on a port it reports in a log line (`port_pattern`).
    Its log lines are kept for assertions."""

    def __init__(self, command: list[str], port_pattern: str, env: dict[str, str]) -> None:
        self.command = command
        self.port_pattern = re.compile(port_pattern)
        self.env = {**os.environ, **env}
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.port: int | None = None
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        self._process = subprocess.Popen(
            self.command, stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True, env=self.env, cwd=REPO
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT) or self.port is None:
            self.stop()
            raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
        return self

    def _read_output(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
            if self.port is None and (match := self.port_pattern.search(line)):
                self.port = int(match.group(1))
                self._ready.set()
        self._ready.set()  # the process ended: unblock start()

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
            raise TimeoutError("no matching log line:\n" + self.log_text())
        return found

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess(ServiceProcess):
    """`regwatch serve` on a free port of 127.0.0.1."""

    def __init__(self, registry: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.registry = registry
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
            r"Uvicorn running on http://127\.0\.0\.1:(\d+)",
            {"REGWATCH_RECONCILE_INTERVAL": "30", **(env or {})},
        )


class GatewayProcess(ServiceProcess):
    """The Fastify gateway (`node gateway/src/server.js`) on a free port, in front of `upstream`."""

    def __init__(self, upstream: str, api_keys: str, env: dict[str, str] | None = None) -> None:
        super().__init__(
            ["node", "gateway/src/server.js"],
            r"Server listening at http://127\.0\.0\.1:(\d+)",
            {"UPSTREAM_URL": upstream, "API_KEYS": api_keys, "PORT": "0", "HOST": "127.0.0.1", **(env or {})},
        )
