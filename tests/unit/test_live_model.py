"""The live model in-process (real lifespan, watcher, probe children): what serves, the
pinned cache and lane, failure memory, and loads that hang or change under it."""

import asyncio
import hashlib
import json
from pathlib import Path

from support.hostile_models import HANG, Call, ended, pickle_running, publish_bytes
from support.inprocess import next_event, running_app, until_serving
from support.models import IRIS_ROW, iris_model, publish

from regwatch.events import EventType

BODY = {"instances": [IRIS_ROW]}


def good(beacon, tag: str) -> bytes:
    """An iris model that reports each unpickle to `beacon` as `tag`."""
    return pickle_running(beacon.step(tag), result=iris_model())


def rewrite(folder: Path, data: bytes, **metadata: object) -> None:
    """Replace a version's files in place: the model first, then metadata naming its sha256."""
    (folder / "model.joblib").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / "metadata.json").write_text(json.dumps({"sha256": digest, **metadata}))


async def add(svc, version: str, data: bytes) -> None:
    """Publish into the running app's registry; return once its index has the version (a
    version present at start-up may be probed there while the latest is still settling)."""
    with svc.bus.subscribe({EventType.VERSION_ADDED}) as added:
        publish_bytes(svc.default.registry.root, version, data)
        await next_event(added, EventType.VERSION_ADDED, version)


async def test_pinned_versions_have_their_own_slots_and_never_evict_serving_or_previous(root, beacon):
    publish_bytes(root, "3.0.0", good(beacon, "3.0.0"))
    async with running_app(root, pinned_cache_size=1, pinned_load_interval=0) as (client, svc):
        await until_serving(svc, "3.0.0")
        publish_bytes(root, "4.0.0", good(beacon, "4.0.0"))
        await until_serving(svc, "4.0.0")
        for version in ("1.0.0", "2.0.0"):
            await add(svc, version, good(beacon, version))
        assert beacon.tags() == ["3.0.0", "3.0.0", "4.0.0", "4.0.0"]  # lower versions wait for a pin

        async def pin(version: str) -> list[str]:
            """Predict with `version` pinned; the loads it caused (probe and server: 2 each)."""
            response = await client.post(f"/predict?version={version}", json=BODY)
            assert response.status_code == 200, response.text
            assert response.json()["model_version"] == version
            return beacon.tags()

        assert await pin("3.0.0") == []  # the previous model
        assert await pin("4.0.0") == []  # the serving model
        assert await pin("1.0.0") == ["1.0.0", "1.0.0"]
        assert await pin("1.0.0") == []
        assert await pin("2.0.0") == ["2.0.0", "2.0.0"]  # takes the one pinned slot
        assert await pin("1.0.0") == ["1.0.0", "1.0.0"]
        assert await pin("3.0.0") == [] and await pin("4.0.0") == []  # never evicted
        assert svc.default.live.serving is not None and svc.default.live.serving.version == "4.0.0"


async def test_concurrent_pinned_requests_share_one_load(root, beacon):
    publish(root, "2.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "2.0.0")
        await add(svc, "1.0.0", good(beacon, "1.0.0"))
        responses = await asyncio.gather(
            *(client.post("/predict?version=1.0.0", json=BODY) for _ in range(8))
        )
        assert [r.status_code for r in responses] == [200] * 8
        assert beacon.tags() == ["1.0.0", "1.0.0"]  # one probe, one load in the server


async def test_a_failed_load_is_not_retried_until_its_folder_changes(root, beacon):
    publish(root, "1.0.0")
    failing = pickle_running(beacon.step("2.0.0"), Call(int, "not a number"))
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failures:
            publish_bytes(root, "2.0.0", failing)  # the new latest: loaded at once
            event = await next_event(failures, EventType.MODEL_LOAD_FAILED, "2.0.0")
            assert "cannot unpickle model.joblib: ValueError" in event.data["error"]
            assert beacon.tags() == ["2.0.0"]  # the probe; the server never unpickled it

            svc.default.live.reconcile()
            pinned = await client.post("/predict?version=2.0.0", json=BODY)
            assert pinned.status_code == 409 and "cannot unpickle" in pinned.json()["error"]
            assert beacon.tags() == []  # remembered: no retry
            assert "2.0.0" in (await client.get("/models")).json()["load_failures"]

            rewrite(root / "versions" / "2.0.0", failing, description="touched")
            await next_event(failures, EventType.MODEL_LOAD_FAILED, "2.0.0")
            assert beacon.tags() == ["2.0.0"]  # a change retries
            assert failures.pending() == 0

        rewrite(root / "versions" / "2.0.0", good(beacon, "2.0.0"))
        await until_serving(svc, "2.0.0")
        assert "2.0.0" not in (await client.get("/models")).json()["load_failures"]


async def test_a_pinned_request_waits_a_bounded_time_and_the_load_goes_on(root, beacon):
    publish(root, "1.0.0")
    async with running_app(root, pinned_wait_seconds=0.3) as (client, svc):
        await until_serving(svc, "1.0.0")
        await add(svc, "0.5.0", pickle_running(beacon.step("0.5.0"), HANG))
        first = await client.post("/predict?version=0.5.0", json=BODY)
        assert first.status_code == 503 and first.headers["Retry-After"] == "1"
        assert "still loading" in first.json()["error"]
        probe = await beacon.next()
        again = await client.post("/predict?version=0.5.0", json=BODY)
        assert again.status_code == 503
        assert beacon.received() == []  # the second request joined the load under way
        assert (await client.post("/predict", json=BODY)).json()["model_version"] == "1.0.0"
    await ended(probe.pid)  # shutting down killed the probe


async def test_pinned_loads_start_at_a_bounded_rate(root, beacon):
    publish(root, "1.0.0")
    async with running_app(root, pinned_load_interval=3600, pinned_wait_seconds=0.3) as (client, svc):
        await until_serving(svc, "1.0.0")
        for version in ("0.1.0", "0.2.0"):
            await add(svc, version, good(beacon, version))
        assert (await client.post("/predict?version=0.1.0", json=BODY)).status_code == 200
        queued = await client.post("/predict?version=0.2.0", json=BODY)
        assert queued.status_code == 503  # its load waits for the next start slot
        assert beacon.tags() == ["0.1.0", "0.1.0"]


async def test_a_busy_pinned_lane_never_delays_a_swap_to_latest(root, beacon):
    publish(root, "1.0.0")
    async with running_app(root, pinned_load_interval=0, pinned_wait_seconds=0.3) as (client, svc):
        await until_serving(svc, "1.0.0")
        await add(svc, "0.1.0", pickle_running(beacon.step("0.1.0"), HANG))
        await add(svc, "0.2.0", good(beacon, "0.2.0"))
        assert (await client.post("/predict?version=0.1.0", json=BODY)).status_code == 503
        await beacon.next()  # the pinned lane is busy with a load that hangs
        assert (await client.post("/predict?version=0.2.0", json=BODY)).status_code == 503
        publish(root, "2.0.0")
        await until_serving(svc, "2.0.0")
        assert beacon.tags() == []  # 0.2.0 still queued behind the hanging pinned load


async def test_a_hanging_load_never_blocks_a_newer_version(root, beacon):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        publish_bytes(root, "2.0.0", pickle_running(beacon.step("2.0.0"), HANG))
        probe = await beacon.next()
        publish(root, "3.0.0")
        await until_serving(svc, "3.0.0")
        await ended(probe.pid)  # no longer wanted: killed, not left to time out
        assert "2.0.0" not in (await client.get("/models")).json()["load_failures"]


async def test_at_start_a_slow_latest_is_preceded_by_the_next_version_that_loads(root, beacon):
    publish(root, "1.0.0")
    publish_bytes(root, "2.0.0", pickle_running(beacon.step("2.0.0"), HANG))
    async with running_app(root, settle_ms=0) as (client, svc):  # both in the index at start
        await until_serving(svc, "1.0.0")
        assert svc.default.registry.get_latest_version() == "2.0.0"
        assert (await client.get("/readyz")).status_code == 200
        assert (await beacon.next()).tag == "2.0.0"  # its probe started, and still runs


async def test_a_folder_changed_during_its_load_is_not_swapped_in(root, beacon):
    publish(root, "1.0.0")
    async with running_app(root) as (_, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOADED, EventType.MODEL_LOAD_FAILED}) as events:
            publish_bytes(root, "2.0.0", pickle_running(beacon.step("old"), HANG))
            stale = await beacon.next()
            rewrite(root / "versions" / "2.0.0", good(beacon, "new"))
            await until_serving(svc, "2.0.0")
            await ended(stale.pid)
            seen = [await events.get() for _ in range(events.pending())]
        assert [(event.type, event.version) for event in seen] == [(EventType.MODEL_LOADED, "2.0.0")]
        state = svc.default.registry.index.state("2.0.0")
        assert state is not None and svc.default.live.serving.fingerprint == state.fingerprint


async def test_the_warm_up_gate(root):
    publish(root, "1.0.0")
    examples = {"instances": [IRIS_ROW], "predictions": [0]}
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOADED, EventType.MODEL_LOAD_FAILED}) as events:
            publish(root, "2.0.0", metadata={"examples": {**examples, "predictions": [1]}})
            failed = await next_event(events, EventType.MODEL_LOAD_FAILED, "2.0.0")
            assert failed.data["error"].startswith("warm-up: example 0 predicted 0")
            assert (await client.post("/predict", json=BODY)).json()["model_version"] == "1.0.0"
            assert (await client.get("/models")).json()["load_failures"]["2.0.0"].startswith("warm-up")

            publish(root, "3.0.0", metadata={"examples": examples})
            loaded = await next_event(events, EventType.MODEL_LOADED, "3.0.0")
        assert loaded.data["warmup_ms"] > 0 and loaded.data["probe_ms"] > 0  # both ran
