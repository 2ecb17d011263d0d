"""The in-process harness serves a published model through the real lifespan."""

from support.inprocess import running_app, until_serving
from support.models import IRIS_ROW, publish


async def test_a_published_model_answers_in_process(root):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        response = await client.post("/predict", json={"instances": [IRIS_ROW]})
        assert response.status_code == 200
        assert response.json()["model_version"] == "1.0.0"
        assert svc.default.live.serving is not None and svc.default.live.serving.version == "1.0.0"
