"""skops and ONNX next to pickle, served end to end in-process (real watcher, real probe
children, real skops and onnxruntime) and refused with a reason where they must be."""

import json

import numpy as np
import skops.io as sio
from support.custom_models import CUSTOM_TYPE, custom_model
from support.inprocess import next_event, running_app, until_serving
from support.models import IRIS_ROW, iris_model, publish

from regwatch.cli.convert import convert_verified
from regwatch.events import EventType
from regwatch.registry import ModelFormat, ModelRegistry, Status

ROWS = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3], [5.9, 2.8, 4.4, 1.3], [0.0, 0.0, 0.0, 0.0]]


def publish_as(root, version: str, fmt: ModelFormat, data: bytes, metadata: dict | None = None) -> None:
    ModelRegistry(root, scan=False).publish_bytes(data, fmt, version, metadata or {"n_features": 4})


async def predictions(client, version: str) -> list:
    answer = await client.post(f"/predict?version={version}", json={"instances": ROWS})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


async def test_skops_and_onnx_serve_what_the_original_predicts(root):
    original = iris_model()
    expected = original.predict(np.asarray(ROWS)).tolist()
    meta = {"n_features": 4, "examples": {"instances": ROWS, "predictions": expected}}
    publish_as(root, "1.0.0", ModelFormat.SKOPS, convert_verified(original, ModelFormat.SKOPS, meta), meta)
    publish_as(root, "2.0.0", ModelFormat.ONNX, convert_verified(original, ModelFormat.ONNX, meta), meta)
    async with running_app(root) as (client, svc):
        await until_serving(svc, "2.0.0")
        assert (
            svc.default.live.serving is not None and svc.default.live.serving.n_features == 4
        )  # from the graph
        assert await predictions(client, "2.0.0") == expected
        assert await predictions(client, "1.0.0") == expected
        unpinned = await client.post("/predict", json={"instances": ROWS})
        assert unpinned.json()["predictions"] == expected and unpinned.headers["x-model-version"] == "2.0.0"


async def test_a_skops_file_with_an_untrusted_type_is_refused_naming_it_unless_trusted(root):
    publish_as(root, "1.0.0", ModelFormat.SKOPS, sio.dumps(custom_model()))
    async with running_app(root) as (client, svc):
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failures:
            svc.default.live.reconcile()
            event = await next_event(failures, EventType.MODEL_LOAD_FAILED, "1.0.0")
        assert f"model.skops holds untrusted types: {CUSTOM_TYPE}" in event.data["error"]
        assert (await client.get("/readyz")).status_code == 503
    async with running_app(root, skops_trusted=(CUSTOM_TYPE,)) as (client, svc):
        await until_serving(svc, "1.0.0")
        assert await predictions(client, "1.0.0") == iris_model().predict(np.asarray(ROWS)).tolist()


async def test_pickles_are_refused_with_allow_pickle_false_and_the_rest_serves(root):
    publish(root, "2.0.0")  # a pickle, the highest version
    publish_as(root, "1.0.0", ModelFormat.ONNX, convert_verified(iris_model(), ModelFormat.ONNX, {}))
    async with running_app(root, allow_pickle=False) as (client, svc):
        await until_serving(svc, "1.0.0")
        rejected = (await client.get("/models")).json()["rejected"]
        assert [r["version"] for r in rejected] == ["2.0.0"]
        assert "model.joblib is a pickle" in rejected[0]["reason"]
        assert "REGWATCH_ALLOW_PICKLE=false" in rejected[0]["reason"]
        with svc.bus.subscribe({EventType.VERSION_REJECTED}) as events:
            publish(root, "3.0.0", metadata={"n_features": 4})
            event = await next_event(events, EventType.VERSION_REJECTED, "3.0.0")
        assert "is a pickle" in event.data["reason"]
        assert svc.default.live.serving is not None and svc.default.live.serving.version == "1.0.0"


def test_two_model_files_are_ambiguous_and_none_is_missing(root):
    folder = root / "versions" / "1.0.0"
    folder.mkdir()
    (folder / "metadata.json").write_text(json.dumps({}))
    registry = ModelRegistry(root, scan=False)
    assert registry.inspect("1.0.0").reason == "no model file (model.joblib, model.skops or model.onnx)"
    (folder / "model.joblib").write_bytes(b"x")
    (folder / "model.onnx").write_bytes(b"y")
    state = registry.inspect("1.0.0")
    assert state.status is Status.REJECTED
    assert state.reason.startswith("ambiguous: model.joblib and model.onnx are both here")
    (folder / "model.joblib").unlink()
    state = registry.inspect("1.0.0")
    assert state.status is Status.COMPLETE and state.format is ModelFormat.ONNX
    assert state.model_path == folder / "model.onnx"


async def test_a_corrupt_onnx_or_skops_file_fails_to_load_and_the_old_version_keeps_serving(root):
    publish(root, "1.0.0", metadata={"n_features": 4})
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failures:
            publish_as(root, "2.0.0", ModelFormat.ONNX, b"\x08\x07not a graph")
            onnx = await next_event(failures, EventType.MODEL_LOAD_FAILED, "2.0.0")
            publish_as(root, "3.0.0", ModelFormat.SKOPS, b"PK\x03\x04 not a zip")
            skops = await next_event(failures, EventType.MODEL_LOAD_FAILED, "3.0.0")
        assert "model.onnx is not a valid ONNX model" in onnx.data["error"]
        assert "cannot load model.skops" in skops.data["error"]
        answer = await client.post("/predict", json={"instances": [IRIS_ROW]})
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "1.0.0"
