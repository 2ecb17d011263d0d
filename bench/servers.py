"""The servers under test, started with the shared process harness (tests/support/server.py).

Every server is pinned to SERVER_CPUS and the load generator (this process) to
CLIENT_CPUS when the machine has two cores or more, so the client never steals the
server's core. The gateway is not pinned by us: it inherits this process's affinity, so
it shares the load generator's core. Servers that cannot report a port they bound get a
free port picked just before the start.
"""

import os
import resource
import sys
from pathlib import Path

from tests.support.server import (
    REPO,
    UVICORN_PORT,
    GatewayProcess,
    ServerProcess,
    ServiceProcess,
    free_port,
    http_status,
)

NCPU = os.cpu_count() or 1
SERVER_CPUS = {0} if NCPU >= 2 else None
CLIENT_CPUS = set(range(1, NCPU)) if NCPU >= 2 else None
PINNING = (
    f"servers on CPU {sorted(SERVER_CPUS or [])}, load generator on CPU {sorted(CLIENT_CPUS or [])}, "
    "gateway on the load generator's CPU"
)
PEER_PY = REPO / "bench" / "peers" / ".venv" / "bin" / "python"
MLSERVER_BIN = PEER_PY.parent / "mlserver"


def pin_self() -> None:
    """Pin the load generator; raise its open-files limit (1,000 SSE clients), which the
    servers started from here inherit."""
    if CLIENT_CPUS:
        os.sched_setaffinity(0, CLIENT_CPUS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def regwatch(
    registry: Path,
    *args: str,
    code: Path | None = None,
    name: str = "regwatch",
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """`regwatch serve` on port 0, as users start it: every default."""
    return ServerProcess(registry, *args, env=env, code=code, cpus=SERVER_CPUS, name=name)


def baseline(model_path: Path, style: str) -> ServiceProcess:
    return ServiceProcess(
        [sys.executable, str(REPO / "bench" / "baseline_app.py"), str(model_path), "--style", style],
        UVICORN_PORT,
        cpus=SERVER_CPUS,
        name=f"baseline-{style}",
    )


def trivial() -> ServiceProcess:
    """A fixed-response raw asyncio server: the load generator's own ceiling."""
    return ServiceProcess(
        [sys.executable, str(REPO / "bench" / "trivial_server.py")],
        r"listening on (\d+)",
        cpus=SERVER_CPUS,
        name="trivial",
    )


def mlserver(model_dir: Path, *, workers: int, name: str) -> ServiceProcess:
    """MLServer on a free port; ready once it reports the model `iris` ready."""
    port = free_port()
    env = {
        "MLSERVER_HTTP_PORT": str(port),
        "MLSERVER_GRPC_PORT": str(free_port()),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_PARALLEL_WORKERS": str(workers),
        "MLSERVER_LOGGING_LEVEL": "WARNING",
        "MLSERVER_DEBUG": "false",
    }
    return ServiceProcess(
        [str(MLSERVER_BIN), "start", str(model_dir)],
        env=env,
        port=port,
        ready=lambda p: http_status(p, "/v2/models/iris/ready") == 200,
        cwd=model_dir,
        cpus=SERVER_CPUS,
        name=name,
    )


def gateway(upstream_port: int | list[int], api_key: str) -> GatewayProcess:
    """The gateway in front of one server, or of several (`UPSTREAM_URLS`)."""
    ports = upstream_port if isinstance(upstream_port, list) else [upstream_port]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    return GatewayProcess(
        urls if isinstance(upstream_port, list) else urls[0],
        api_key,
        {"LOG_LEVEL": "warn"},
        port=free_port(),
    )
