"""Many models in a real `regwatch serve`: the JSON routes, SSE per model, and the Open
Inference Protocol spoken by Triton's client library, for several models at once."""

import numpy as np
import tritonclient.http as triton
from support.distinct_models import relabelled_iris_model
from support.models import IRIS_ROW, iris_model, publish
from support.sse import SseStream

RELABELLED = relabelled_iris_model()


def _infer(client: triton.InferenceServerClient, model: str, version: str = "") -> tuple[str, list[int]]:
    rows = np.array([IRIS_ROW], dtype=np.float64)
    tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows, binary_data=False)
    result = client.infer(
        model,
        [tensor],
        model_version=version,
        outputs=[triton.InferRequestedOutput("predict", binary_data=False)],
    )
    return result.get_response()["model_version"], result.as_numpy("predict").tolist()


async def test_several_models_over_json_sse_and_the_inference_protocol(root, server):
    publish(root, "1.0.0")
    publish(root / "models" / "churn", "1.0.0", RELABELLED)
    async with SseStream(server.url, path="/events?model=churn") as churn_events:
        snapshot = await churn_events.next()
        assert snapshot.data["model"] == "churn" and snapshot.data["models"] == ["default", "churn"]
        if snapshot.data["serving"] != "1.0.0":
            await churn_events.wait_for("model_loaded", "1.0.0")
        async with SseStream(server.url) as default_events:
            await default_events.wait_serving("1.0.0")

        client = triton.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=10)
        assert client.is_server_ready()
        assert client.is_model_ready("churn") and client.is_model_ready("default")
        assert client.get_model_metadata("churn")["versions"] == ["1.0.0"]
        assert _infer(client, "churn") == ("1.0.0", RELABELLED.predict([IRIS_ROW]).tolist())
        assert _infer(client, "default") == ("1.0.0", iris_model().predict([IRIS_ROW]).tolist())
        index = {
            (entry["name"], entry["version"]): entry["state"] for entry in client.get_model_repository_index()
        }
        assert index == {("default", "1.0.0"): "READY", ("churn", "1.0.0"): "READY"}

        # A model created while serving, and a drop into churn: the churn stream sees only churn.
        publish(root / "models" / "fraud", "0.1.0")
        publish(root, "2.0.0")
        publish(root / "models" / "churn", "1.1.0", RELABELLED)
        await churn_events.wait_for("model_loaded", "1.1.0")
        assert {event.data["model"] for event in churn_events.seen[1:]} == {"churn"}
        async with SseStream(server.url, path="/events?model=fraud") as fraud_events:
            await fraud_events.wait_serving("0.1.0")
        assert _infer(client, "fraud") == ("0.1.0", iris_model().predict([IRIS_ROW]).tolist())
        assert _infer(client, "churn", "1.0.0")[0] == "1.0.0"
        assert _infer(client, "churn")[0] == "1.1.0"
        client.close()
