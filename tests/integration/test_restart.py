"""Restart durability (a redeploy): a new process on the same registry rediscovers everything."""

import threading

import httpx
from support.models import IRIS_ROW, publish
from support.sse import SseStream


async def test_a_new_process_serves_the_same_latest(root, server_factory):
    first = server_factory()
    async with SseStream(first.url) as events:
        for version in ["1.0.0", "1.1.0", "1.2.0"]:
            publish(root, version)
            await events.wait_for("model_loaded", version)
    before = httpx.get(f"{first.url}/models").json()
    first.stop()

    second = server_factory()
    # Probe readiness as an orchestrator would: the first "ready" must already be the latest.
    with httpx.Client(base_url=second.url, timeout=10) as client:
        for _ in range(500):
            ready = client.get("/readyz")
            if ready.status_code == 200:
                break
            threading.Event().wait(0.02)  # bounded probe interval; no event exists for "not yet"
    assert ready.status_code == 200 and ready.json()["serving"] == "1.2.0"
    after = httpx.get(f"{second.url}/models").json()
    assert after["versions"] == before["versions"]
    assert after["latest"] == after["serving"] == "1.2.0"
    assert httpx.get(f"{second.url}/readyz").status_code == 200
    response = httpx.post(f"{second.url}/predict", json={"instances": [IRIS_ROW]})
    assert response.json()["model_version"] == "1.2.0"
