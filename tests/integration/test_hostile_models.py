"""A model file that crashes, hangs or bloats its loader, against a real `regwatch serve`:
the server stays up and keeps serving, a later good version is served, and a restart with
the bad file still in place starts and serves the highest version that loads."""

import httpx
import pytest
from support.hostile_models import HANG, SEGFAULT, memory_bomb, pickle_running, publish_bytes
from support.models import IRIS_ROW, publish
from support.sse import SseStream

CASES = {
    "segfault": (lambda: pickle_running(SEGFAULT), {}, "crashed (signal 11)"),
    "hang": (lambda: pickle_running(HANG), {"REGWATCH_LOAD_TIMEOUT": "3"}, "timed out after 3 s"),
    "memory-bomb": (memory_bomb, {"REGWATCH_LOAD_MEMORY_LIMIT": "256MiB"}, "exceeded the memory limit"),
}


def serving(url: str) -> str:
    response = httpx.post(f"{url}/predict", json={"instances": [IRIS_ROW]}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


@pytest.mark.parametrize("kind", CASES)
async def test_a_hostile_model_file_never_takes_the_server_down(root, server_factory, kind):
    make, env, reason = CASES[kind]
    publish(root, "1.0.0")
    server = server_factory(env=env)
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        publish_bytes(root, "2.0.0", make())
        failed = await events.wait_for("model_load_failed", "2.0.0", timeout=30)
    assert reason in failed.data["error"]
    assert server.alive
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert serving(server.url) == "1.0.0"
    assert reason in httpx.get(f"{server.url}/models").json()["load_failures"]["2.0.0"]

    server.stop()
    restarted = server_factory(env=env)  # 2.0.0, still the latest, is probed again at start
    async with SseStream(restarted.url) as events:
        await events.wait_serving("1.0.0")
        assert httpx.get(f"{restarted.url}/readyz").status_code == 200
        publish(root, "3.0.0")
        await events.wait_for("model_loaded", "3.0.0")
    assert restarted.alive
    assert serving(restarted.url) == "3.0.0"
