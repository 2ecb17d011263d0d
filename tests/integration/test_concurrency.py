"""Predictions never fail while versions are published and removed under them."""

import shutil
import time

import anyio
import httpx
import pytest
from support.models import IRIS_ROW, build_folder, move_in, publish
from support.sse import SseStream

CLIENTS = 16
VERSIONS = 50


@pytest.mark.slow
async def test_sixteen_clients_see_no_error_while_fifty_versions_come_and_go(root, server_factory, tmp_path):
    publish(root, "1.0.0")
    server = server_factory()
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")

    publish_started: dict[str, float] = {"1.0.0": 0.0}
    results: list[tuple[int, str | None, float]] = []
    done = anyio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            while not done.is_set():
                try:
                    response = await http.post("/predict", json={"instances": [IRIS_ROW]})
                    version = response.json().get("model_version") if response.status_code == 200 else None
                    results.append((response.status_code, version, time.monotonic()))
                except httpx.HTTPError as exc:
                    results.append((0, repr(exc), time.monotonic()))

    def churn() -> None:
        previous = None
        for i in range(1, VERSIONS + 1):
            name = f"2.{i}.0"
            publish_started[name] = time.monotonic()
            if i % 2:
                publish(root, name)
            else:
                move_in(build_folder(tmp_path / name), root, name)
            if previous is not None:
                shutil.rmtree(root / "versions" / previous)
            previous = name

    async with anyio.create_task_group() as tg:
        for _ in range(CLIENTS):
            tg.start_soon(client)
        async with SseStream(server.url) as events:
            await anyio.to_thread.run_sync(churn)
            await events.wait_for("model_loaded", f"2.{VERSIONS}.0", timeout=30)
            # The last removal may come after the last load, or never be an event at all: a
            # folder removed before its inspection ran was never indexed. So wait, event by
            # event, until the index holds just what is left on disk.
            async with httpx.AsyncClient(base_url=server.url) as http:
                with anyio.fail_after(15):
                    while await versions_listed(http) != ["1.0.0", f"2.{VERSIONS}.0"]:
                        await events.next()
        done.set()

    failures = [r for r in results if r[0] != 200]
    assert failures == [], failures[:5]
    assert len(results) > CLIENTS * 10
    for _, version, received in results:
        assert version in publish_started, version
        assert received >= publish_started[version], f"{version} answered before it was published"
    models = httpx.get(f"{server.url}/models").json()
    assert models["latest"] == models["serving"] == f"2.{VERSIONS}.0"


async def versions_listed(http: httpx.AsyncClient) -> list[str]:
    return [v["version"] for v in (await http.get("/models")).json()["versions"]]
