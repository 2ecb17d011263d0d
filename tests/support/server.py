"""Run `regwatch serve` as a real process on 127.0.0.1 and wait for it without sleeping."""

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
START_TIMEOUT = 30.0


class ServerProcess:
    """A `python -m api serve` child process; its log lines are kept for assertions."""

    def __init__(self, registry: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.registry = registry
        self.args = args
        self.env = {**os.environ, "REGWATCH_RECONCILE_INTERVAL": "30", **(env or {})}
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self.port: int | None = None
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServerProcess":
        self._process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--registry", str(self.registry),
             "--host", "127.0.0.1", "--port", "0", *self.args],
            stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True, env=self.env,
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
            if match := _RUNNING.search(line):
                self.port = int(match.group(1))
                self._ready.set()
        self._ready.set()  # the process ended: unblock start()

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

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
