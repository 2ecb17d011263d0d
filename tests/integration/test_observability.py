"""Observability over a real uvicorn process: SSE, request ids, metrics, the events CLI."""

import itertools
import json
import queue
import re
import subprocess
import sys
import threading

import httpx
from support.metrics import samples
from support.models import IRIS_ROW, publish
from support.sse import SseStream


def scrape(url: str) -> dict[str, float]:
    """Every sample of /metrics as {"name{label=value,...}": value}."""
    return samples(httpx.get(f"{url}/metrics").text)


async def test_events_arrive_in_order_and_replay_exactly_what_was_missed(root, server):
    async with SseStream(server.url) as first:
        snapshot = await first.next()
        assert snapshot.event == "snapshot" and snapshot.data["versions"] == []
        publish(root, "1.0.0")
        added = await first.wait_for("version_added", "1.0.0")
        latest = await first.next()
        loaded = await first.next()
        assert [latest.event, loaded.event] == ["latest_changed", "model_loaded"]
        assert added.id < latest.id < loaded.id
        assert latest.data["previous"] is None and latest.version == "1.0.0"
        assert loaded.data["load_ms"] > 0 and loaded.data["at"].endswith("Z")
        assert added.data["metadata"]["n_features"] == 4

    async with SseStream(server.url) as witness:
        await witness.next()
        publish(root, "1.1.0")
        publish(root, "1.2.0")
        await witness.wait_for("model_loaded", "1.2.0")
    missed = witness.seen[1:]

    async with SseStream(server.url, last_event_id=loaded.id) as resumed:
        replayed = [await resumed.next() for _ in missed]
        assert [(e.event, e.id, e.version) for e in replayed] == [(e.event, e.id, e.version) for e in missed]
        publish(root, "1.3.0")
        after = await resumed.next()
        assert (after.event, after.version) == ("version_added", "1.3.0")
        assert after.id > replayed[-1].id


async def test_a_client_too_far_behind_gets_reset_then_snapshot(root, server_factory):
    server = server_factory(env={"REGWATCH_EVENT_BUFFER": "3"})
    async with SseStream(server.url) as first:
        snapshot = await first.next()
    async with SseStream(server.url) as witness:
        await witness.next()
        for version in ["1.0.0", "1.1.0", "1.2.0"]:
            publish(root, version)
            await witness.wait_for("model_loaded", version)
    async with SseStream(server.url, last_event_id=snapshot.id) as behind:
        reset = await behind.next()
        fresh = await behind.next()
    assert reset.event == "reset"
    assert fresh.event == "snapshot" and fresh.data["latest"] == "1.2.0" and fresh.data["serving"] == "1.2.0"
    async with SseStream(server.url, last_event_id=999) as foreign:
        assert (await foreign.next()).event == "reset"


def test_a_thousand_connects_and_disconnects_leak_no_subscriber(server):
    gauge = "regwatch_event_subscribers{}"
    baseline = scrape(server.url)[gauge]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for _ in range(1000):
            with client.stream("GET", "/events") as response:
                next(response.iter_lines())  # the snapshot has started: subscribed
    # Disconnects are processed asynchronously; wait (bounded) for the count to settle.
    for _ in range(200):
        if scrape(server.url)[gauge] == baseline:
            break
        threading.Event().wait(0.05)
    assert scrape(server.url)[gauge] == baseline


def test_request_ids_are_echoed_and_logged(root, server_factory):
    publish(root, "1.0.0")
    server = server_factory("--log-json", env={"REGWATCH_ACCESS_LOG": "true"})
    sane = "trace-42.abc:XYZ_9"
    response = httpx.get(f"{server.url}/models", headers={"X-Request-Id": sane})
    assert response.headers["x-request-id"] == sane
    line = server.wait_for_line(lambda l: sane in l and "/models" in l)
    assert json.loads(line)["request_id"] == sane

    for insane in ["has space", "x" * 200, "semi;colon"]:
        response = httpx.get(f"{server.url}/models", headers={"X-Request-Id": insane})
        generated = response.headers["x-request-id"]
        assert generated != insane and len(generated) == 32
    failed = httpx.post(
        f"{server.url}/predict", json={"instances": "nope"}, headers={"X-Request-Id": "bad-body-1"}
    )
    assert failed.status_code == 422
    assert failed.headers["x-request-id"] == failed.json()["request_id"] == "bad-body-1"
    server.wait_for_line(lambda l: '"request_id": "bad-body-1"' in l)


async def test_metrics_parse_and_count_swaps_and_predictions(root, server):
    before = scrape(server.url)
    assert before.get("regwatch_model_swaps_total{model=default}", 0) == 0
    async with SseStream(server.url) as events:
        publish(root, "1.0.0")
        await events.wait_for("model_loaded", "1.0.0")
    httpx.post(f"{server.url}/predict", json={"instances": [IRIS_ROW, IRIS_ROW]})
    after = scrape(server.url)
    assert after["regwatch_model_swaps_total{model=default}"] == 1
    assert after["regwatch_predictions_total{model=default,role=stable,version=1.0.0}"] == 2
    assert after["regwatch_serving_info{model=default,version=1.0.0}"] == 1
    assert after["regwatch_versions{model=default}"] == 1
    assert after["regwatch_models{}"] == 1
    assert after["regwatch_model_load_duration_seconds_count{}"] == 1
    assert after["regwatch_http_requests_total{method=POST,route=/predict,status=200}"] == 1
    assert after["regwatch_watcher_events{}"] > 0


def _lines_of(process: subprocess.Popen) -> "queue.Queue[str]":
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: "queue.Queue[str]", *words: str, timeout: float = 20) -> str:
    while True:
        line = lines.get(timeout=timeout)
        if all(word in line for word in words):
            return line


def test_events_cli_follows_and_reconnects_across_a_restart(root, server_factory):
    first = server_factory()
    follower = subprocess.Popen(
        [sys.executable, "-m", "regwatch.cli", "events", "--url", first.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = _lines_of(follower)
        _read_until(lines, "snapshot")
        publish(root, "1.0.0")
        assert "load_ms=" in _read_until(lines, "model_loaded", "1.0.0")
        first.stop()
        publish(root, "1.1.0")
        server_factory("--port", str(first.port))
        _read_until(lines, "reset")
        # The new process may have loaded 1.1.0 before the client got back: then the
        # snapshot says so, else a model_loaded follows it.
        loaded = re.compile(r"serving=1\.1\.0|model_loaded\s+1\.1\.0")
        while not loaded.search(lines.get(timeout=20)):
            pass
    finally:
        follower.kill()
        follower.wait(timeout=5)


def test_events_cli_json_mode(root, server):
    publish(root, "1.0.0")
    follower = subprocess.Popen(
        [sys.executable, "-m", "regwatch.cli", "events", "--url", server.url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = json.loads(_lines_of(follower).get(timeout=20))
        assert first["event"] == "snapshot" and first["latest"] == "1.0.0"
    finally:
        follower.kill()
        follower.wait(timeout=5)


def test_an_idle_stream_gets_keep_alive_comments(server_factory):
    """A shared tick sends idle streams a comment; proxies would otherwise close them."""
    server = server_factory(env={"REGWATCH_SSE_KEEPALIVE_SECONDS": "0.2"})
    with (
        httpx.Client(base_url=server.url, timeout=httpx.Timeout(5.0, read=10.0)) as client,
        client.stream("GET", "/events") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines).startswith("event: snapshot")
        pings = [line for line in itertools.islice((l for l in lines if l.startswith(":")), 2)]
        assert pings == [": ping", ": ping"]
