"""Drop a folder, the API serves it: real observer, real uvicorn process, real temp registry."""

import shutil

import anyio
import httpx
import pytest
from support.models import IRIS_ROW, build_folder, copy_in, iris_model, move_in, publish
from support.server import ServerProcess
from support.sse import SseStream


def predict(url: str, **params: str) -> httpx.Response:
    return httpx.post(f"{url}/predict", json={"instances": [IRIS_ROW]}, params=params, timeout=10)


async def test_publish_swap_remove_fallback(root, server):
    async with SseStream(server.url) as events:
        snapshot = await events.next()
        assert snapshot.event == "snapshot" and snapshot.data["serving"] is None
        assert predict(server.url).status_code == 503

        publish(root, "1.0.0")
        await events.wait_for("model_loaded", "1.0.0")
        response = predict(server.url)
        assert response.status_code == 200
        assert response.json()["model_version"] == "1.0.0"
        assert response.headers["x-model-version"] == "1.0.0"

        publish(root, "1.1.0", iris_model(c=0.5))
        await events.wait_for("model_loaded", "1.1.0")
        assert predict(server.url).json()["model_version"] == "1.1.0"
        assert predict(server.url, version="1.0.0").json()["model_version"] == "1.0.0"

        shutil.rmtree(root / "versions" / "1.1.0")
        removed = await events.wait_for("version_removed", "1.1.0")
        fallback = await events.wait_for("model_loaded", "1.0.0")
        assert fallback.id > removed.id
        assert predict(server.url).json()["model_version"] == "1.0.0"
        models = httpx.get(f"{server.url}/models").json()
        assert [v["version"] for v in models["versions"]] == ["1.0.0"]
        assert models["latest"] == models["serving"] == "1.0.0"


async def test_copied_and_moved_folders_are_served(root, server, tmp_path):
    async with SseStream(server.url) as events:
        copy_in(build_folder(tmp_path / "a", metadata={"n_features": 4}), root, "2.0.0")
        await events.wait_for("model_loaded", "2.0.0")
        move_in(build_folder(tmp_path / "b"), root, "v2.1.0")
        await events.wait_for("model_loaded", "v2.1.0")
        assert predict(server.url).json()["model_version"] == "v2.1.0"
        assert httpx.get(f"{server.url}/models/2.1").json()["version"] == "v2.1.0"


async def test_garbage_model_keeps_the_old_one_serving(root, server, tmp_path):
    async with SseStream(server.url) as events:
        publish(root, "1.0.0")
        await events.wait_for("model_loaded", "1.0.0")
        move_in(build_folder(tmp_path / "bad", model_bytes=b"not a pickle"), root, "1.2.0")
        failed = await events.wait_for("model_load_failed", "1.2.0")
        assert "cannot unpickle" in failed.data["error"]
        assert predict(server.url).json()["model_version"] == "1.0.0"
        assert httpx.get(f"{server.url}/readyz").status_code == 200

        # A failed version never blocks later ones.
        publish(root, "1.3.0")
        await events.wait_for("model_loaded", "1.3.0")
        assert predict(server.url).json()["model_version"] == "1.3.0"


async def test_rejected_folder_names_are_reported_once(root, server, tmp_path):
    async with SseStream(server.url) as events:
        await events.next()
        move_in(build_folder(tmp_path / "x"), root, "not-a-version")
        rejected = await events.wait_for("version_rejected", "not-a-version")
        assert "PEP 440" in rejected.data["reason"]
        (root / "versions" / "not-a-version" / "extra.txt").write_text("touch")
        publish(root, "1.0.0")
        await events.wait_for("model_loaded", "1.0.0")
    assert [e.version for e in events.seen if e.event == "version_rejected"] == ["not-a-version"]


@pytest.fixture(scope="module")
def serving_1_0_0(tmp_path_factory):
    """One server, serving 1.0.0, shared by the read-only request tests below."""
    root = tmp_path_factory.mktemp("registry")
    publish(root, "1.0.0")
    with ServerProcess(root) as server:
        anyio.run(_wait_serving, server.url, "1.0.0")
        yield server


async def _wait_serving(url: str, version: str) -> None:
    async with SseStream(url) as events:
        await events.wait_serving(version)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [[1.0, 2.0, 3.0]]}, "expects 4 features"),
        ({"instances": []}, "at least 1"),
        ({"instances": [[1, "x", 3, 4]]}, "valid number"),
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, "same number of features"),
        ({"instances": [[]]}, "expects 4 features"),
        ({"instances": [1, 2, 3, 4]}, "valid array"),
        ({"rows": [[1, 2, 3, 4]]}, "instances"),
        ({"instances": [[1, 2, 3, 4]] * 1001}, "exceeds the limit of 1000"),
        ("not json", "JSON"),
        ('{"instances": [[NaN, 1, 2, 3]]}', "finite number"),
    ],
)
def test_bad_bodies_are_422_with_a_message(serving_1_0_0, body, message):
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = httpx.post(
        f"{serving_1_0_0.url}/predict", headers={"content-type": "application/json"}, timeout=10, **kwargs
    )
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]
    assert response.headers["x-request-id"]


def test_unknown_pinned_version_is_404(serving_1_0_0):
    url = serving_1_0_0.url
    assert predict(url, version="9.9.9").status_code == 404
    assert predict(url, version="../../etc").status_code == 404
    assert httpx.get(f"{url}/models/9.9.9").status_code == 404
    assert httpx.get(f"{url}/models/%2e%2e").status_code == 404
    assert httpx.get(f"{url}/models/1.0").json()["version"] == "1.0.0"
