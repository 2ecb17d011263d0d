"""The Open Inference Protocol routes in-process (real lifespan, real folders): validation,
data layouts, datatypes, readiness and the repository index."""

import anyio
import pytest
from support.inprocess import running_app, until_serving
from support.models import IRIS_ROW, publish

from regwatch.events import EventType

INFER = "/v2/models/default/infer"


def _request(data, shape, datatype="FP64", **extra):
    return {"inputs": [{"name": "input-0", "shape": shape, "datatype": datatype, "data": data}], **extra}


@pytest.fixture
async def app(root):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        yield client, svc


async def test_flat_and_nested_data_give_the_same_answer(app):
    client, _ = app
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    flat = await client.post(INFER, json=_request([v for row in rows for v in row], [2, 4], id="r1"))
    nested = await client.post(INFER, json=_request(rows, [2, 4]))
    assert flat.status_code == nested.status_code == 200, flat.text
    answer = flat.json()
    assert answer["id"] == "r1" and answer["model_name"] == "default" and answer["model_version"] == "1.0.0"
    assert answer["outputs"] == nested.json()["outputs"]
    (predict,) = answer["outputs"]
    assert predict["name"] == "predict" and predict["shape"] == [2] and predict["data"] == [0, 2]
    assert predict["datatype"] == "INT64"
    assert "id" not in nested.json()


@pytest.mark.parametrize("datatype", ["FP32", "INT32", "INT64"])
async def test_other_datatypes_are_accepted(app, datatype):
    client, _ = app
    data = [5, 3, 1, 0] if datatype.startswith("INT") else IRIS_ROW
    response = await client.post(INFER, json=_request(data, [1, 4], datatype))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [0]


async def test_predict_proba_only_when_asked(app):
    client, _ = app
    body = _request(IRIS_ROW, [1, 4], outputs=[{"name": "predict"}, {"name": "predict_proba"}])
    response = await client.post(INFER, json=body)
    predict, proba = response.json()["outputs"]
    assert proba["name"] == "predict_proba" and proba["shape"] == [1, 3] and proba["datatype"] == "FP64"
    assert max(range(3), key=lambda i: proba["data"][i]) == predict["data"][0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_request(IRIS_ROW, [1, 3]), "expects 4 features per row, got shape [1, 3]"),
        (_request(IRIS_ROW, [2, 4]), "data has 4 values, shape [2, 4] needs 8"),
        (_request([[1, 2], [3, 4]], [1, 4]), "nested data is [2, 2], shape says [1, 4]"),
        (_request([[1, 2, 3, 4], [1, 2]], [2, 4]), "nested data must be rows of the same length"),
        (_request(IRIS_ROW, [4]), "shape must be [N, n_features], got [4]"),
        (_request([], [0, 4]), "holds no values"),
        (_request([5.1, 3.5, 1.4, 0.2], [1, 4], "INT64"), "valid integer"),
        (_request([1, 2, 3, 2**40], [1, 4], "INT32"), "less than or equal to 2147483647"),
        (_request([1, 2, 3, 1e39], [1, 4], "FP32"), "out of the FP32 range"),
        (_request([1, 2, 3, "4"], [1, 4]), "valid number"),
        (_request([1, 2, 3, True], [1, 4]), "valid number"),
        (_request(IRIS_ROW, [1, 4], "BYTES"), "does not match any of the expected tags"),
        (_request(IRIS_ROW * 3, [3, 4]) | {"x": 1}, "Extra inputs are not permitted"),
        ({"inputs": []}, "at least 1 item"),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]},
            "unknown input 'x'",
        ),
        (_request(IRIS_ROW, [1, 4], outputs=[{"name": "logits"}]), "no output 'logits'"),
        (_request([0.0] * 12, [3, 4]), None),  # the control: this one is fine
    ],
)
async def test_bad_input_is_400_with_a_message(app, body, message):
    client, _ = app
    response = await client.post(INFER, json=body)
    if message is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


async def test_non_finite_values_and_the_batch_limit(root):
    publish(root, "1.0.0")
    async with running_app(root, max_batch=2) as (client, svc):
        await until_serving(svc, "1.0.0")
        nan = await client.post(
            INFER,
            content=b'{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[1,2,3,NaN]}]}',
        )
        assert nan.status_code == 400 and "finite number" in nan.json()["error"]
        over = await client.post(INFER, json=_request([0.0] * 12, [3, 4]))
        assert over.status_code == 400 and "batch of 3 rows exceeds the limit of 2" in over.json()["error"]


async def test_a_model_without_predict_proba_refuses_it(root):
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    publish(root, "1.0.0", SVC().fit(*load_iris(return_X_y=True)))
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        meta = (await client.get("/v2/models/default")).json()
        assert [output["name"] for output in meta["outputs"]] == ["predict"]
        response = await client.post(
            INFER, json=_request(IRIS_ROW, [1, 4], outputs=[{"name": "predict_proba"}])
        )
        assert response.status_code == 400
        assert "no output 'predict_proba'; the model has ['predict']" in response.json()["error"]


async def test_unknown_model_or_version_is_404(app):
    client, _ = app
    for path in ("/v2/models/fraud/infer", "/v2/models/default/versions/9.9.9/infer"):
        response = await client.post(path, json=_request(IRIS_ROW, [1, 4]))
        assert response.status_code == 404, path
        assert response.json()["error"]
    assert (await client.get("/v2/models/fraud")).status_code == 404
    assert (await client.get("/v2/models/fraud/ready")).status_code == 404
    assert (await client.get("/v2/models/default/versions/9.9.9/ready")).status_code == 404


async def test_binary_tensor_data_is_refused_clearly(app):
    client, _ = app
    response = await client.post(
        INFER,
        content=b'{"inputs":[]}\x00\x00',
        headers={"inference-header-content-length": "13", "content-type": "application/octet-stream"},
    )
    assert response.status_code == 400 and "binary tensor data is not supported" in response.json()["error"]


async def test_metadata_health_and_readiness(app):
    client, _ = app
    server = (await client.get("/v2")).json()
    assert server["name"] == "regwatch" and server["version"] and server["extensions"] == []
    assert (await client.get("/v2/health/live")).status_code == 200
    assert (await client.get("/v2/health/ready")).status_code == 200
    meta = (await client.get("/v2/models/default")).json()
    assert meta["name"] == "default" and meta["versions"] == ["1.0.0"] and meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert (await client.get("/v2/models/default/ready")).status_code == 200
    assert (await client.get("/v2/models/default/versions/1.0.0/ready")).status_code == 200


async def test_not_ready_is_a_4xx(root):
    async with running_app(root) as (client, _):
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 400 and "no model is serving yet" in ready.json()["error"]
        assert (await client.get("/v2/models/default/ready")).status_code == 400
        infer = await client.post(INFER, json=_request(IRIS_ROW, [1, 4]))
        assert infer.status_code == 503 and infer.headers["retry-after"] == "1"


async def test_repository_index_states_and_reasons(root):
    publish(root, "1.0.0")
    publish(root, "1.1.0")
    (root / "versions" / "not-a-version").mkdir()
    broken = root / "versions" / "1.2.0"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a pickle")
    (broken / "metadata.json").write_text("{}")
    # One load at a time: 1.2.0 fails, then 1.1.0 serves, and 1.0.0 is never loaded. No settle
    # window: a folder written just before the start is complete at once, not settling (else
    # 1.0.0 could be the best complete version at the first look, and load).
    async with running_app(root, load_concurrency=1, settle_ms=0) as (client, svc):
        await until_serving(svc, "1.1.0")
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failed, anyio.fail_after(10):
            while "1.2.0" not in svc.default.live.failures:
                await failed.get()
        index = (await client.post("/v2/repository/index")).json()
        by_version = {entry["version"]: entry for entry in index}
        assert by_version["1.1.0"] == {
            "name": "default",
            "version": "1.1.0",
            "state": "READY",
            "reason": "serving",
        }
        assert by_version["1.0.0"]["state"] == "UNAVAILABLE"
        assert "not loaded" in by_version["1.0.0"]["reason"]
        assert by_version["1.2.0"]["state"] == "UNAVAILABLE"
        assert by_version["1.2.0"]["reason"].startswith("failed to load")
        assert by_version["not-a-version"]["state"] == "UNAVAILABLE"
        version_ready = await client.get("/v2/models/default/versions/1.2.0/ready")
        assert version_ready.status_code == 400 and "failed to load" in version_ready.json()["error"]
        pinned = await client.post("/v2/models/default/versions/1.2.0/infer", json=_request(IRIS_ROW, [1, 4]))
        assert pinned.status_code == 400 and "cannot be served" in pinned.json()["error"]

        # A pinned infer loads 1.0.0, which then shows as READY (loaded, not serving).
        pinned = await client.post("/v2/models/default/versions/1.0/infer", json=_request(IRIS_ROW, [1, 4]))
        assert pinned.status_code == 200 and pinned.json()["model_version"] == "1.0.0"
        ready_only = (await client.post("/v2/repository/index", json={"ready": True})).json()
        assert {(entry["version"], entry["reason"]) for entry in ready_only} == {
            ("1.1.0", "serving"),
            ("1.0.0", "loaded"),
        }
