"""Real `regwatch serve` replicas of one registry in a fleet, and an HTTP client for each.

A `ServiceReplica` has the `id` / `answer()` / `log_text()` of the stand-in replicas, so
`replicas.round_robin` (the monotonic-guarantee client) drives either kind.
"""

import os
import signal
from pathlib import Path
from typing import Any

import httpx
from support.models import IRIS_ROW
from support.server import REPO, ServerProcess

FAST = {
    "REGWATCH_FLEET_MEMBER_TTL": "1",
    "REGWATCH_FLEET_HEARTBEAT": "0.2",
    "PYTHONPATH": str(REPO / "tests"),  # the gated model class
}


class ServiceReplica(ServerProcess):
    def __init__(self, registry: Path, nats_url: str, replica_id: str, env: dict[str, str]) -> None:
        settings = {"REGWATCH_NATS_URL": nats_url, "REGWATCH_REPLICA_ID": replica_id, **FAST, **env}
        super().__init__(registry, env=settings, name=replica_id)
        self.id = replica_id
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=10)
        return self._client

    def answer(self) -> str | None:
        """The version a default /predict answers with; None for a 503 (not ready)."""
        response = self.client.post("/predict", json={"instances": [IRIS_ROW]})
        if response.status_code == 503:
            return None
        assert response.status_code == 200, response.text
        version: str = response.json()["model_version"]
        assert response.headers["X-Model-Version"] == version
        return version

    def fleet(self) -> dict[str, Any]:
        status: dict[str, Any] = self.client.get("/fleet").raise_for_status().json()
        return status

    def members(self) -> set[str]:
        return {member["replica"] for member in self.fleet()["members"]}

    def wait_serving(self, version: str, timeout: float = 30.0) -> None:
        """Until it swapped to `version` (its log says so when the fleet flips)."""
        self.wait_for_line(lambda line: f"serving {version} (was" in line, timeout)

    def wait_prepared(self, version: str, timeout: float = 30.0) -> None:
        """Until it has `version` loaded and warmed, waiting for the fleet to switch."""
        self.wait_for_line(lambda line: f"{version} loaded and warmed; the fleet switches" in line, timeout)

    def served_versions(self) -> list[str]:
        """Every version it swapped to, in order, from its log."""
        return [
            line.split("serving ", 1)[1].split()[0]
            for line in self.lines
            if "serving " in line and " (was " in line
        ]

    def kill(self) -> None:
        """SIGKILL to its whole process group (the probe children too): no goodbye to the fleet."""
        os.killpg(self.pid, signal.SIGKILL)
        self.wait(timeout=10)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop()
