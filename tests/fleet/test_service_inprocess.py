"""Cluster mode of the service in-process (its real lifespan) against a real nats-server."""

import anyio
import pytest
from pydantic import ValidationError
from support.inprocess import next_event, running_app, until_serving
from support.models import IRIS_ROW, publish
from support.nats import NatsServer
from support.server import free_port

from regwatch.api.settings import Settings
from regwatch.events import EventType
from regwatch.fleet import FleetConfig
from regwatch.serving.cluster import Cluster
from regwatch.serving.relay import dedup_key

FAST = {"fleet_member_ttl": 1.0, "fleet_heartbeat": 0.2}
ROW = {"instances": [IRIS_ROW]}
V2_ROW = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]}


async def test_without_a_nats_url_nothing_of_the_fleet_shows(root) -> None:
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        assert svc.cluster is None and svc.model("default").seat is None
        assert (await client.get("/fleet")).status_code == 404
        ready = (await client.get("/readyz")).json()
        assert ready == {"status": "ready", "serving": "1.0.0", "models": {"default": "1.0.0"}}
        assert "regwatch_fleet" not in (await client.get("/metrics")).text


async def test_a_replica_answers_with_the_fleet_version_and_reports_it(root, nats_server: NatsServer) -> None:
    publish(root, "1.0.0")
    async with running_app(root, nats_url=nats_server.url, replica_id="r0", **FAST) as (client, svc):
        await until_serving(svc, "1.0.0")
        response = await client.post("/predict", json=ROW)
        assert response.json()["model_version"] == "1.0.0"
        infer = await client.post("/v2/models/default/infer", json=V2_ROW)
        assert infer.json()["model_version"] == "1.0.0"

        publish(root, "2.0.0")
        await until_serving(svc, "2.0.0")
        assert (await client.post("/predict", json=ROW)).headers["X-Model-Version"] == "2.0.0"
        pinned = await client.post("/predict?version=1.0.0", json=ROW)  # bypasses the gate
        assert pinned.json()["model_version"] == "1.0.0"

        fleet = (await client.get("/fleet")).json()
        assert (fleet["replica"], fleet["connected"], fleet["ready"]) == ("r0", True, True)
        assert fleet["models"] == [
            {
                "model": "default",
                "active": "2.0.0",
                "canary": None,
                "phase": "active",
                "answer": "2.0.0",
                "answer_canary": None,
                "ready": True,
                "reason": None,
            }
        ]
        assert [member["replica"] for member in fleet["members"]] == ["r0"]
        assert fleet["counters"]["pointer_writes"] == 3  # first pointer, fence, commit
        assert (await client.get("/v2/models/default/ready")).status_code == 200
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["fleet"]["models"][0]["answer"] == "2.0.0"
        metrics = (await client.get("/metrics")).text
        assert "regwatch_fleet_connected 1.0" in metrics and "regwatch_fleet_members 1.0" in metrics
        assert (
            'regwatch_fleet_answer_info{active="2.0.0",canary="",canary_percent="",model="default",version="2.0.0"} 1.0'
            in metrics
        )


async def test_a_replica_that_cannot_reach_nats_serves_nothing_of_its_own(root) -> None:
    nowhere = f"nats://127.0.0.1:{free_port()}"
    async with running_app(root, nats_url=nowhere, replica_id="r0", **FAST) as (client, svc):
        with svc.bus.subscribe() as events:
            publish(root, "1.0.0")
            await next_event(events, EventType.VERSION_ADDED, "1.0.0")
            # Pinned versions bypass the fleet; the default answer is the fleet's, and there is none.
            pinned = await client.post("/predict?version=1.0.0", json=ROW)
            assert pinned.status_code == 200, pinned.text
            assert pinned.json()["model_version"] == "1.0.0"
            refused = await client.post("/predict", json=ROW)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert "fleet" in refused.json()["error"]
            assert (await client.post("/v2/models/default/infer", json=V2_ROW)).status_code == 503
            assert (await client.get("/v2/health/ready")).status_code == 400
            not_ready = await client.get("/v2/models/default/ready")
            assert not_ready.status_code == 400 and "fleet" in not_ready.json()["error"]
            readiness = await client.get("/readyz")
            assert readiness.status_code == 503 and readiness.json()["fleet"]["connected"] is False
            assert (await client.get("/fleet")).json()["connected"] is False
            assert "regwatch_fleet_connected 0.0" in (await client.get("/metrics")).text
            assert svc.model("default").live.serving is None


async def test_every_replica_names_one_change_of_the_volume_alike(root, nats_server: NatsServer) -> None:
    """Two replicas see one folder appear: their events carry one change id, so the fleet's
    stream keeps one; what each replica did (its load) is its own."""
    settings = {"nats_url": nats_server.url, **FAST}
    async with (
        running_app(root, replica_id="r0", **settings) as (_, first),
        running_app(root, replica_id="r1", **settings) as (_, second),
    ):
        with first.bus.subscribe() as one, second.bus.subscribe() as two:
            publish(root, "1.0.0")
            added = [await next_event(sub, EventType.VERSION_ADDED, "1.0.0") for sub in (one, two)]
            loaded = [await next_event(sub, EventType.MODEL_LOADED, "1.0.0") for sub in (one, two)]
        payloads = [event.payload() | {"model": "default"} for event in added]
        assert payloads[0]["change_id"] == payloads[1]["change_id"]
        assert dedup_key(payloads[0]) == dedup_key(payloads[1]) is not None
        assert dedup_key(loaded[0].payload() | {"model": "default"}) is None
        assert first.cluster is not None
        kinds = []
        with anyio.fail_after(20):  # both relays publish; the stream keeps one of each shared event
            async for _, event in first.cluster.fleet.events.subscribe(after=0):
                kinds.append((event["type"], event["version"], event["replica"]))
                if {kind for kind in kinds if kind[0] == "model_loaded"} == {
                    ("model_loaded", "1.0.0", "r0"),
                    ("model_loaded", "1.0.0", "r1"),
                }:
                    break
        assert [kind[:2] for kind in kinds].count(("version_added", "1.0.0")) == 1


def test_bad_fleet_settings_stop_the_start_with_the_reason() -> None:
    url = "nats://127.0.0.1:4222"
    for bad, reason in [
        ({"fleet": "a.b"}, "fleet name"),
        ({"replica_id": "a b"}, "replica id"),
        ({"fleet_member_ttl": 1.0, "fleet_heartbeat": 1.0}, "member_ttl"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            Settings(nats_url=url, **bad)
    assert Settings(nats_url="").fleet_config() is None
    config = Settings(nats_url=url, replica_id="api-1", fleet_prepare_deadline=5).fleet_config()
    assert config is not None and (config.replica_id, config.prepare_deadline) == ("api-1", 5)


async def test_a_model_no_longer_served_stops_counting_for_readiness(nats_server: NatsServer) -> None:
    cluster = Cluster(FleetConfig(url=nats_server.url, replica_id="r0", heartbeat_interval=0.2, member_ttl=1))
    changed = anyio.Event()
    async with cluster.fleet:
        served, gone = cluster.seat("default"), cluster.seat("gone")
        served.listener = lambda status: changed.set() if status.answer == "1.0.0" else None
        served.want("1.0.0")
        served.set_loaded({"1.0.0"})
        gone.want("1.0.0")  # wanted, never loaded here: this replica is not ready
        with anyio.fail_after(20):
            await changed.wait()
        assert served.not_ready() is None and gone.not_ready() is not None
        assert not cluster.fleet.ready
        gone.vacate()
        assert cluster.fleet.ready
