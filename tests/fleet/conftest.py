from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from replicas import ReplicaProcess
from service_replicas import ServiceReplica
from support.nats import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on a free port, its store in a temp folder."""
    with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def replica(nats_server: NatsServer) -> Iterator[Callable[..., ReplicaProcess]]:
    """Start replica processes on the fleet; all are stopped after the test."""
    started: list[ReplicaProcess] = []

    def start(replica_id: str, *args: str) -> ReplicaProcess:
        process = ReplicaProcess(nats_server.url, replica_id, *args).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def service_replica(nats_server: NatsServer, root: Path) -> Iterator[Callable[..., ServiceReplica]]:
    """Start `regwatch serve` replicas on one registry (`root`) in one fleet; all are
    stopped after the test."""
    started: list[ServiceReplica] = []

    def start(replica_id: str, **env: str) -> ServiceReplica:
        process = ServiceReplica(root, nats_server.url, replica_id, env).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
