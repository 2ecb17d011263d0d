"""Many models on one volume, in-process: the real lifespan, watcher and loads over real
folders. `models/<name>/versions/<v>/` next to the default model's `versions/`."""

import os
import shutil
from pathlib import Path

import anyio
from support.distinct_models import relabelled_iris_model
from support.inprocess import running_app, until_serving
from support.models import IRIS_ROW, iris_model, publish

from regwatch.events import EventType

EXPECTED = int(iris_model().predict([IRIS_ROW])[0])
RELABELLED = int(relabelled_iris_model().predict([IRIS_ROW])[0])


def model_root(root: Path, name: str) -> Path:
    return root / "models" / name


async def next_of(subscription, kind: EventType, model: str | None, timeout: float = 20.0):
    with anyio.fail_after(timeout):
        while True:
            event = await subscription.get()
            if event.type is kind and event.model == model:
                return event


async def predict(client, model: str | None = None, **params: str):
    query = {"model": model, **params} if model else params
    return await client.post("/predict", params=query, json={"instances": [IRIS_ROW]})


async def test_models_found_at_start_serve_side_by_side(root):
    publish(root, "1.0.0")
    publish(model_root(root, "churn"), "1.0.0")
    publish(model_root(root, "churn"), "2.0.0", relabelled_iris_model())
    publish(model_root(root, "fraud"), "0.3.0")
    async with running_app(root) as (client, svc):
        for model, version in (("default", "1.0.0"), ("churn", "2.0.0"), ("fraud", "0.3.0")):
            await until_serving(svc, version, model=model)

        listing = (await client.get("/models", params={"model": "churn"})).json()
        assert listing["models"] == ["default", "churn", "fraud"]
        assert (listing["model"], listing["latest"], listing["serving"]) == ("churn", "2.0.0", "2.0.0")
        assert [v["version"] for v in listing["versions"]] == ["1.0.0", "2.0.0"]
        assert (await client.get("/models")).json()["model"] == "default"

        answer = await predict(client, "churn")
        assert answer.json() == {"model_version": "2.0.0", "predictions": [RELABELLED]}
        assert (await predict(client)).json() == {"model_version": "1.0.0", "predictions": [EXPECTED]}
        pinned = await predict(client, "churn", version="1.0.0")
        assert pinned.json() == {"model_version": "1.0.0", "predictions": [EXPECTED]}
        assert (await client.get("/models/latest", params={"model": "fraud"})).json()["version"] == "0.3.0"
        assert (await client.get("/models/2.0.0", params={"model": "churn"})).status_code == 200
        assert (await client.get("/models/2.0.0", params={"model": "fraud"})).status_code == 404

        for unknown in ("nope", "..", "Churn", ""):
            for response in (
                await predict(client, unknown) if unknown else await client.post("/predict?model=", json={}),
                await client.get("/models", params={"model": unknown}),
                await client.get("/events", params={"model": unknown}),
            ):
                assert response.status_code == 404, (unknown, response.text)
                assert "unknown model" in response.json()["error"]
        ready = (await client.get("/readyz")).json()
        assert ready["models"] == {"default": "1.0.0", "churn": "2.0.0", "fraud": "0.3.0"}


async def test_a_model_created_while_serving_is_picked_up(root):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe() as events:
            publish(model_root(root, "rank"), "1.0.0", relabelled_iris_model())
            await next_of(events, EventType.MODEL_ADDED, "rank")
            await until_serving(svc, "1.0.0", model="rank")
        answer = await predict(client, "rank")
        assert answer.json() == {"model_version": "1.0.0", "predictions": [RELABELLED]}
        assert (await client.get("/models")).json()["models"] == ["default", "rank"]


async def test_a_drop_into_one_model_never_touches_another(root):
    publish(root, "1.0.0")
    publish(model_root(root, "churn"), "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0", model="churn")
        await until_serving(svc, "1.0.0")
        default_serving = svc.default.live.serving
        with svc.bus.subscribe() as events:
            publish(model_root(root, "churn"), "2.0.0", relabelled_iris_model())
            loaded = await next_of(events, EventType.MODEL_LOADED, "churn")
            assert loaded.version == "2.0.0"
            others = [events.get_nowait() for _ in range(events.pending())]
        assert all(event.model == "churn" for event in others if event.type is not EventType.KEEPALIVE)
        assert svc.default.live.serving is default_serving  # the same loaded object: untouched
        assert (await predict(client)).json()["model_version"] == "1.0.0"
        assert (await predict(client, "churn")).json() == {
            "model_version": "2.0.0",
            "predictions": [RELABELLED],
        }


async def test_a_removed_model_folder_stops_being_served(root):
    publish(root, "1.0.0")
    publish(model_root(root, "fraud"), "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0", model="fraud")
        with svc.bus.subscribe() as events:
            shutil.rmtree(model_root(root, "fraud"))
            await next_of(events, EventType.MODEL_REMOVED, "fraud")
        assert (await predict(client, "fraud")).status_code == 404
        assert (await client.get("/models")).json()["models"] == ["default"]
        assert not any(name.startswith(("sync:fraud", "live:fraud")) for name in svc.supervisor.tasks)
        # ...and comes back when the folder does.
        with svc.bus.subscribe() as events:
            publish(model_root(root, "fraud"), "2.0.0")
            await next_of(events, EventType.MODEL_ADDED, "fraud")
        await until_serving(svc, "2.0.0", model="fraud")


async def test_an_emptied_model_keeps_serving_its_last_version(root):
    publish(model_root(root, "churn"), "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0", model="churn")
        with svc.bus.subscribe() as events:
            shutil.rmtree(model_root(root, "churn") / "versions" / "1.0.0")
            removed = await next_of(events, EventType.VERSION_REMOVED, "churn")
            assert removed.version == "1.0.0"
        assert (await predict(client, "churn")).json()["model_version"] == "1.0.0"
        assert (await client.get("/models", params={"model": "churn"})).json()["versions"] == []


async def test_bad_model_names_are_reported_once_and_never_served(root, tmp_path):
    publish(root, "1.0.0")
    publish(model_root(root, "default"), "1.0.0")  # the default model's name, taken
    publish(model_root(root, "Bad Name"), "1.0.0")
    outside = tmp_path / "outside"
    publish(outside, "1.0.0")
    os.symlink(outside, model_root(root, "linked"))
    (root / "models" / "file").write_text("not a folder")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        rejected = (await client.get("/models")).json()["rejected_models"]
        assert set(rejected) == {"default", "Bad Name", "linked", "file"}
        assert "symlink" in rejected["linked"] and "not a model name" in rejected["Bad Name"]
        with svc.bus.subscribe({EventType.MODEL_REJECTED, EventType.MODEL_ADDED}) as events:
            publish(model_root(root, "late"), "1.0.0")  # makes the server list models/ again
            (root / "models" / "UPPER").mkdir()
            first = await next_of(events, EventType.MODEL_REJECTED, None)
            await next_of(events, EventType.MODEL_ADDED, "late")
            assert first.data["name"] == "UPPER"
            assert events.pending() == 0  # the names refused at start were not reported again
        assert (await predict(client, "linked")).status_code == 404
        assert (await client.get("/models")).json()["models"] == ["default", "late"]
