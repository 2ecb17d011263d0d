"""Background tasks fail loudly and come back: restart, metric, event, log, and /healthz 503 at the end.

In-process, with the real lifespan: the service's own tasks no longer fail from anything a
test can do to the volume (each is hardened), so the failing task is injected through the
running service's supervisor.
"""

import anyio
from support.inprocess import running_app
from support.metrics import samples

from regwatch.events import EventType

FAST_RESTARTS = {"task_restart_backoff_seconds": 0.01, "task_restart_max_backoff_seconds": 0.05}


async def test_a_subscriber_that_raises_is_restarted_until_it_is_given_up(root, caplog):
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

    given_up = [
        r for r in caplog.records if r.name == "regwatch.supervisor" and "giving up" in r.getMessage()
    ]
    assert len(given_up) == 1 and given_up[0].levelname == "ERROR"
    assert given_up[0].exc_info is not None and "cannot handle a tick" in str(given_up[0].exc_info[1])
