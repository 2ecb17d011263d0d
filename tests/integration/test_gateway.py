"""The real Python API behind the real Fastify gateway, both as processes on 127.0.0.1."""

import shutil

import httpx
import pytest
from support.models import IRIS_ROW, publish
from support.server import REPO, GatewayProcess
from support.sse import SseStream

pytestmark = pytest.mark.skipif(
    not (REPO / "gateway" / "node_modules").is_dir() or shutil.which("node") is None,
    reason="gateway dependencies not installed (make test runs npm ci first)",
)

KEY = "test-key-0123456789"


@pytest.fixture
def server(server_factory):
    """With the access log on, so one request can be followed across both services' logs."""
    return server_factory(env={"REGWATCH_ACCESS_LOG": "true"})


@pytest.fixture
def gateway(server):
    with GatewayProcess(server.url, KEY) as gateway:
        yield gateway


async def test_publish_and_read_through_the_gateway(root, server, gateway):
    async with SseStream(server.url) as events:
        publish(root, "1.0.0", metadata={"description": "via gateway"})
        await events.wait_for("model_loaded", "1.0.0")

    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        assert client.get("/admin/models/latest").status_code == 401
        assert client.post("/predict", json={"instances": [IRIS_ROW]}).status_code == 401
        assert client.get("/admin/models", headers={"x-api-key": "wrong"}).status_code == 401

        keyed = {"x-api-key": KEY, "x-request-id": "through-both-1"}
        latest = client.get("/admin/models/latest", headers=keyed)
        assert latest.status_code == 200
        assert latest.json()["version"] == "1.0.0"
        assert latest.json()["metadata"]["description"] == "via gateway"

        prediction = client.post("/predict", json={"instances": [IRIS_ROW]}, headers=keyed)
        assert prediction.status_code == 200
        assert prediction.json()["model_version"] == "1.0.0"
        assert prediction.headers["x-model-version"] == "1.0.0"
        assert prediction.headers["x-request-id"] == "through-both-1"

        bad = client.post(
            "/predict", json={"instances": [[1, 2]]}, headers={"authorization": f"Bearer {KEY}"}
        )
        assert bad.status_code == 422 and "expects 4 features" in bad.json()["error"]
    # One request id, followed across both services.
    server.wait_for_line(lambda line: "through-both-1" in line and "/predict" in line)
    gateway.wait_for_line(lambda line: "through-both-1" in line)
    assert KEY not in gateway.log_text()


async def test_admin_events_stream_through_the_gateway(root, server, gateway):
    async with SseStream(gateway.url, path="/admin/events", headers={"x-api-key": KEY}) as events:
        assert (await events.next()).event == "snapshot"
        publish(root, "2.0.0")
        await events.wait_for("model_loaded", "2.0.0")


async def test_upstream_urls_spread_requests_over_two_servers_and_skip_one_that_stops(
    root, tmp_path, server_factory
):
    """Two real servers on two registries, each serving its own version, behind one gateway."""
    second_root = tmp_path / "second"
    (second_root / "versions").mkdir(parents=True)
    first, second = server_factory(), server_factory(registry=second_root)
    for server, registry, version in ((first, root, "1.0.0"), (second, second_root, "2.0.0")):
        async with SseStream(server.url) as events:
            publish(registry, version)
            await events.wait_for("model_loaded", version)

    with (
        GatewayProcess(
            [first.url, second.url], KEY, {"HEALTH_INTERVAL_MS": "100", "HEALTH_TIMEOUT_MS": "5000"}
        ) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10, headers={"x-api-key": KEY}) as client,
    ):

        def served() -> list[str]:
            answers = [client.post("/predict", json={"instances": [IRIS_ROW]}) for _ in range(4)]
            assert all(answer.status_code == 200 for answer in answers)
            return [answer.json()["model_version"] for answer in answers]

        versions = served()
        assert versions in (["1.0.0", "2.0.0"] * 2, ["2.0.0", "1.0.0"] * 2), "round-robin over both"
        assert client.get("/readyz").json() == {"status": "ready", "upstreams": {"healthy": 2, "total": 2}}

        second.stop()
        gateway.wait_for_line(lambda line: "upstream unhealthy" in line and second.url in line)
        assert served() == ["1.0.0"] * 4
        assert client.get("/readyz").json() == {"status": "ready", "upstreams": {"healthy": 1, "total": 2}}
