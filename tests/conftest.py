import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.hostile_models import Beacon
from support.server import ServerProcess


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty registry root in a real temporary directory."""
    registry = tmp_path / "registry"
    (registry / "versions").mkdir(parents=True)
    return registry


@pytest.fixture
def server_factory(root: Path) -> Iterator:
    """Start real `regwatch serve` processes; all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, registry: Path | None = None, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(registry or root, *args, env=env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory) -> ServerProcess:
    return server_factory()


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    """A socket that beacon pickles report to each time they are unpickled."""
    listener = Beacon()
    yield listener
    listener.close()
