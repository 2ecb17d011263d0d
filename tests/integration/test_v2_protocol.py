"""The Open Inference Protocol against a real `regwatch serve`, spoken by a client library
someone else wrote: Triton's `tritonclient.http`."""

import re
import shutil
import threading

import numpy as np
import pytest
import tritonclient.http as triton
from support.models import IRIS_ROW, iris_model, publish
from support.server import REPO, GatewayProcess
from support.sse import SseStream
from tritonclient.utils import InferenceServerException

GATEWAY_KEY = "v2-test-key-0123456789"
IRIS_ROWS = np.array([IRIS_ROW, [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]])


def _client(url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(
        url.removeprefix("http://"), connection_timeout=10, network_timeout=10
    )


def _input(rows: np.ndarray, datatype: str) -> triton.InferInput:
    tensor = triton.InferInput("input-0", list(rows.shape), datatype)
    tensor.set_data_from_numpy(
        rows.astype(np.float32 if datatype == "FP32" else np.float64), binary_data=False
    )
    return tensor


def _outputs(*names: str) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(name, binary_data=False) for name in names]


async def _serving(server, version: str) -> None:
    async with SseStream(server.url) as events:
        await events.wait_serving(version)


async def test_health_metadata_and_infer(root, server):
    client = _client(server.url)
    assert client.is_server_live()
    assert not client.is_server_ready()
    publish(root, "1.0.0")
    publish(root, "1.1.0")
    await _serving(server, "1.1.0")

    assert client.is_server_ready() and client.is_model_ready("default")
    assert client.get_server_metadata()["name"] == "regwatch"
    meta = client.get_model_metadata("default")
    assert meta["versions"] == ["1.0.0", "1.1.0"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert {output["name"] for output in meta["outputs"]} == {"predict", "predict_proba"}

    expected = iris_model().predict(IRIS_ROWS)
    for datatype in ("FP64", "FP32"):
        for rows in (IRIS_ROWS[:1], IRIS_ROWS):
            result = client.infer(
                "default", [_input(rows, datatype)], request_id="req-7", outputs=_outputs("predict")
            )
            assert result.as_numpy("predict").tolist() == expected[: len(rows)].tolist()
            answer = result.get_response()
            assert answer["model_version"] == "1.1.0" and answer["id"] == "req-7"

    both = client.infer("default", [_input(IRIS_ROWS, "FP64")], outputs=_outputs("predict", "predict_proba"))
    proba = both.as_numpy("predict_proba")
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba, iris_model().predict_proba(IRIS_ROWS))

    # Without `outputs`, tritonclient asks for every output in binary: predict comes back as JSON.
    plain = client.infer("default", [_input(IRIS_ROWS[:1], "FP64")])
    assert plain.as_numpy("predict").tolist() == expected[:1].tolist()


async def test_pinned_version_and_errors_surface_in_the_client(root, server):
    publish(root, "1.0.0")
    publish(root, "1.1.0")
    await _serving(server, "1.1.0")
    client = _client(server.url)

    pinned = client.infer(
        "default", [_input(IRIS_ROWS, "FP64")], model_version="1.0.0", outputs=_outputs("predict")
    )
    assert pinned.get_response()["model_version"] == "1.0.0"
    assert client.is_model_ready("default", "1.0.0")
    assert client.get_model_metadata("default", "1.0.0")["name"] == "default"

    with pytest.raises(InferenceServerException, match="unknown model 'fraud'"):
        client.infer("fraud", [_input(IRIS_ROWS, "FP64")])
    with pytest.raises(InferenceServerException, match=re.escape("9.9.9")):
        client.infer("default", [_input(IRIS_ROWS, "FP64")], model_version="9.9.9")
    with pytest.raises(InferenceServerException, match="expects 4 features per row"):
        client.infer("default", [_input(IRIS_ROWS[:, :3], "FP64")])
    with pytest.raises(InferenceServerException, match="binary tensor data is not supported"):
        binary = triton.InferInput("input-0", [1, 4], "FP64")
        binary.set_data_from_numpy(IRIS_ROWS[:1])
        client.infer("default", [binary])
    assert not client.is_model_ready("fraud")

    index = client.get_model_repository_index()
    assert {(entry["version"], entry["state"]) for entry in index} >= {("1.1.0", "READY"), ("1.0.0", "READY")}


async def test_versions_move_forward_while_the_client_infers(root, server):
    """Four clients infer while three versions are dropped in: no errors, and each client's
    answers come from versions that only move forward, ending on the last one."""
    publish(root, "1.0.0")
    await _serving(server, "1.0.0")
    order = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
    seen: list[list[str]] = [[] for _ in range(4)]
    errors: list[Exception] = []
    give_up = threading.Event()

    def infer_until_last(answers: list[str]) -> None:
        client = _client(server.url)
        while not give_up.is_set() and answers[-1:] != [order[-1]]:
            try:
                result = client.infer("default", [_input(IRIS_ROWS, "FP64")], outputs=_outputs("predict"))
                answers.append(result.get_response()["model_version"])
            except Exception as exc:  # any failure at all is what this test looks for
                errors.append(exc)
                return

    threads = [threading.Thread(target=infer_until_last, args=(answers,)) for answers in seen]
    for thread in threads:
        thread.start()
    try:
        async with SseStream(server.url) as events:
            for version in order[1:]:
                publish(root, version, iris_model(c=float(version[0]) + 0.5))
                await events.wait_serving(version)
    finally:
        for thread in threads:
            thread.join(timeout=30)
        give_up.set()
    assert errors == []
    for answers in seen:
        ranks = [order.index(version) for version in answers]
        assert ranks == sorted(ranks) and ranks[-1] == 3
    assert {version for answers in seen for version in answers} >= {"1.0.0", "2.0.0"}


@pytest.mark.skipif(
    not (REPO / "gateway" / "node_modules").is_dir() or shutil.which("node") is None,
    reason="gateway dependencies not installed (make test runs npm ci first)",
)
async def test_the_protocol_through_the_gateway(root, server):
    publish(root, "1.0.0")
    await _serving(server, "1.0.0")
    with GatewayProcess(server.url, GATEWAY_KEY) as gateway:
        client = _client(gateway.url)
        keyed = {"x-api-key": GATEWAY_KEY}
        with pytest.raises(InferenceServerException, match="missing API key"):
            client.get_server_metadata()
        assert client.is_server_ready(headers=keyed)
        assert client.get_model_metadata("default", headers=keyed)["versions"] == ["1.0.0"]
        result = client.infer(
            "default", [_input(IRIS_ROWS, "FP32")], outputs=_outputs("predict_proba"), headers=keyed
        )
        assert result.as_numpy("predict_proba").shape == (3, 3)
        assert result.get_response()["model_version"] == "1.0.0"
        with pytest.raises(InferenceServerException, match="unknown model 'fraud'"):
            client.infer("fraud", [_input(IRIS_ROWS, "FP64")], headers=keyed)
