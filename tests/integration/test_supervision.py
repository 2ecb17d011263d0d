"""Background tasks fail loudly and come back: restart, metric, event, and /healthz 503 at the end.

In-process (the real lifespan) for the mechanics; one real `regwatch serve` for what an
SSE client, a Prometheus scrape, a log shipper and an orchestrator's probe see.
"""

import json
import shutil

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families
from support.inprocess import running_app, until_serving
from support.models import publish
from support.sse import SseStream

from regwatch.events import EventType

FAST_RESTARTS = {"task_restart_backoff_seconds": 0.01, "task_restart_max_backoff_seconds": 0.05}


def samples(text: str) -> dict[str, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] = sample.value
    return found


async def test_a_subscriber_that_raises_is_restarted_until_it_is_given_up(root):
    async with running_app(root, sse_keepalive_seconds=0.01, task_max_failures=3, **FAST_RESTARTS) as (
        client,
        svc,
    ):
        assert (await client.get("/healthz")).json()["status"] == "ok"

        async def chokes_on_ticks() -> None:
            with svc.bus.subscribe({EventType.KEEPALIVE}) as ticks:
                async for _ in ticks:
                    raise RuntimeError("cannot handle a tick")

        with svc.bus.subscribe({EventType.TASK_FAILED}) as failures, anyio.fail_after(20):
            svc.supervisor.start("choker", chokes_on_ticks)
            events = [await failures.get() for _ in range(3)]

        assert [e.data["task"] for e in events] == ["choker"] * 3
        assert [e.data["gave_up"] for e in events] == [False, False, True]
        assert all(e.data["error"] == "RuntimeError: cannot handle a tick" for e in events)
        replayable = svc.bus.since(events[0].id - 1) or []  # what an SSE client resuming gets
        assert {e.id for e in events} <= {e.id for e in replayable}

        health = await client.get("/healthz")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "failed" and body["tasks"]["choker"] == "failed"
        assert "choker" in body["reason"] and "RuntimeError: cannot handle a tick" in body["reason"]
        assert body["tasks"]["watcher"] == "running"

        scraped = samples((await client.get("/metrics")).text)
        assert scraped["regwatch_task_failures_total{task=choker}"] == 3
        assert scraped["regwatch_task_up{task=choker}"] == 0
        assert scraped["regwatch_task_up{task=watcher}"] == 1
        assert scraped["regwatch_task_failures_total{task=watcher}"] == 0


async def test_the_watcher_fails_for_real_restarts_with_backoff_and_recovers(root):
    versions = root / "versions"
    async with running_app(root, task_max_failures=1000, **FAST_RESTARTS) as (client, svc):
        with svc.bus.subscribe({EventType.TASK_FAILED, EventType.RESCAN_REQUESTED}) as events:
            shutil.rmtree(versions)
            versions.write_text("not a folder")  # the watcher cannot recreate versions/
            with anyio.fail_after(20):
                while (failed := await events.get()).type is not EventType.TASK_FAILED:
                    pass
            assert failed.data["task"] == "watcher" and "FileExistsError" in failed.data["error"]
            assert (await client.get("/healthz")).status_code == 200  # restarting is not dead

            versions.unlink()
            versions.mkdir()
            with anyio.fail_after(20):
                while (await events.get()).data.get("reason") != "watcher restarted":
                    pass
        publish(root, "1.0.0")  # picked up by the restarted watcher
        await until_serving(svc, "1.0.0", timeout=20)
        health = (await client.get("/healthz")).json()
        assert health["status"] == "ok" and health["tasks"]["watcher"] == "running"
        assert svc.supervisor.tasks["watcher"].failures >= 1


async def test_sse_clients_probes_metrics_and_logs_see_a_task_given_up(root, server_factory):
    server = server_factory(
        "--log-json",
        env={
            "REGWATCH_TASK_MAX_FAILURES": "2",
            "REGWATCH_TASK_RESTART_BACKOFF_SECONDS": "0.05",
        },
    )
    async with SseStream(server.url) as events:
        await events.next()  # the snapshot: subscribed
        versions = root / "versions"
        shutil.rmtree(versions)
        versions.write_text("not a folder")
        given_up = await events.wait_for("task_failed", where=lambda e: e.data["gave_up"], timeout=30)
    assert given_up.data["task"] == "watcher" and given_up.data["failures"] == 2
    assert given_up.data["version"] is None and given_up.data["at"].endswith("Z")

    health = httpx.get(f"{server.url}/healthz")
    assert health.status_code == 503
    assert "watcher" in health.json()["reason"] and "FileExistsError" in health.json()["reason"]
    assert httpx.get(f"{server.url}/readyz").status_code == 503  # (no model was ever serving)
    scraped = samples(httpx.get(f"{server.url}/metrics").text)
    assert scraped["regwatch_task_failures_total{task=watcher}"] == 2

    line = server.wait_for_line(lambda l: '"regwatch.supervisor"' in l and "giving up" in l)
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["request_id"] == "-"
    assert "Traceback" in record["exception"] and "FileExistsError" in record["exception"]
