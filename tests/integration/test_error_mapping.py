"""Domain errors become HTTP answers in one place, with the service's JSON error shape."""

import anyio
from support.inprocess import running_app, until_serving
from support.models import IRIS_ROW, build_folder, move_in, publish

from regwatch.events import EventType

ROW = {"instances": [IRIS_ROW]}


def assert_error_shape(response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["error"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_an_empty_registry_answers_503_and_404(root):
    async with running_app(root) as (client, _):
        no_model = await client.post("/predict", json=ROW)
        assert_error_shape(no_model, 503, "no model is serving yet")
        assert no_model.headers["retry-after"] == "1"
        assert_error_shape(await client.get("/models/latest"), 404, "the registry holds no complete version")


async def test_unknown_and_unservable_pinned_versions_are_404_and_409(root, tmp_path):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failed, anyio.fail_after(20):
            move_in(build_folder(tmp_path / "broken", model_bytes=b"not a pickle"), root, "2.0.0")
            await failed.get()
        assert_error_shape(
            await client.post("/predict", params={"version": "9.9.9"}, json=ROW), 404, "'9.9.9' not found"
        )
        assert_error_shape(await client.get("/models/9.9.9"), 404, "version '9.9.9' not found")
        unservable = await client.post("/predict", params={"version": "2.0.0"}, json=ROW)
        assert_error_shape(unservable, 409, "the version cannot be served: cannot unpickle model.joblib")
        served = await client.post("/predict", json=ROW)
        assert served.status_code == 200 and served.json()["model_version"] == "1.0.0"
