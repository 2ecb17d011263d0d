"""Release control end to end: the `regwatch` commands on the volume while a real server
follows them, and the gateway's `/admin/release…` in front of the real API."""

from pathlib import Path

import httpx
import pytest
from support.cli import regwatch
from support.distinct_models import relabelled_iris_model
from support.models import IRIS_ROW, publish
from support.release import TOKEN
from support.server import GatewayProcess
from support.sse import SseStream

ROW = {"instances": [IRIS_ROW]}
PREDICTION_KEY = "prediction-key-0123456789"
ADMIN_KEY = "admin-key-0123456789abcdef"


async def until_release(events: SseStream, **expected: object) -> dict:
    """The next `release_changed` whose state has these fields."""
    while True:
        changed = await events.wait_for("release_changed", timeout=30)
        state = changed.data["release"]
        if all(state.get(key) == value for key, value in expected.items()):
            return state


async def test_each_command_on_the_volume_is_followed_by_a_running_server(root, server):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    publish(root / "models" / "churn", "1.0.0")
    cli = ("--registry", str(root))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client, SseStream(server.url) as events:
        await events.wait_serving("2.0.0")

        assert regwatch("promote", "1.0.0", *cli).returncode == 0
        await until_release(events, stable="1.0.0")
        await events.wait_for("model_loaded", "1.0.0", timeout=30)  # loaded and warmed first
        answer = await client.post("/predict", json=ROW)
        assert answer.headers["x-model-version"] == "1.0.0"  # promoted, although 2.0.0 is latest

        assert regwatch("canary", "2.0.0", "--percent", "100", *cli).returncode == 0
        await events.wait_for("release_version_ready", "2.0.0", timeout=30)
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "2.0.0"
        assert regwatch("canary", "--stop", *cli).returncode == 0
        await until_release(events, canary=None)
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "1.0.0"

        assert regwatch("alias", "set", "champion", "2.0.0", *cli).returncode == 0
        await until_release(events, aliases={"champion": "2.0.0"})
        pinned = await client.post("/predict?version=@champion", json=ROW)
        assert pinned.headers["x-model-version"] == "2.0.0"

        assert regwatch("shadow", "2.0.0", *cli).returncode == 0
        await events.wait_for("release_version_ready", "2.0.0", timeout=30)
        for _ in range(20):
            assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "1.0.0"

        assert regwatch("follow-latest", *cli).returncode == 0
        await until_release(events, stable=None)
        await events.wait_for("model_loaded", "2.0.0", timeout=30)
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "2.0.0"

        refused = regwatch("promote", "9.9.9", *cli)
        assert refused.returncode == 1 and "9.9.9" in refused.stderr

        # --model: churn's release, not the default model's.
        publish(root / "models" / "churn", "2.0.0")
        await events.wait_for("model_loaded", "2.0.0", where=lambda e: e.data["model"] == "churn", timeout=30)
        assert regwatch("promote", "1.0.0", "--model", "churn", *cli).returncode == 0
        churn = await until_release(events, stable="1.0.0")
        await events.wait_for("model_loaded", "1.0.0", where=lambda e: e.data["model"] == "churn", timeout=30)
        answer = await client.post("/predict?model=churn", json=ROW)
        assert answer.headers["x-model-version"] == "1.0.0"
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "2.0.0"

        view = (await client.get("/models", params={"model": "churn"})).json()
        assert view["release"]["state"]["stable"] == "1.0.0" == churn["stable"]
    history = regwatch("history", *cli).stdout
    for action in ("promote", "canary", "canary-stop", "alias-set", "shadow", "follow-latest"):
        assert action in history


def credentials(how: str, secrets: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The API's and the gateway's admin settings: inline, or as compose.yaml wires them (the
    same secret files mounted into both, each holding its value and a newline)."""
    if how == "env":
        return {"REGWATCH_ADMIN_TOKEN": TOKEN}, {"ADMIN_API_KEYS": ADMIN_KEY, "REGWATCH_ADMIN_TOKEN": TOKEN}
    secrets.mkdir()
    (secrets / "admin_api_keys").write_text(f"# release operators\n{ADMIN_KEY}\n")
    (secrets / "admin_token").write_text(f"{TOKEN}\n")
    token_file = {"REGWATCH_ADMIN_TOKEN_FILE": str(secrets / "admin_token")}
    return token_file, {"ADMIN_API_KEYS_FILE": str(secrets / "admin_api_keys"), **token_file}


@pytest.mark.parametrize("how", ["env", "secret files"])
async def test_the_gateway_admin_path_changes_the_release_of_the_real_api(
    root, server_factory, tmp_path, how
):
    publish(root, "1.0.0")
    publish(root, "2.0.0")
    api_env, gateway_env = credentials(how, tmp_path / "secrets")
    server = server_factory(env=api_env)
    gateway = GatewayProcess(server.url, PREDICTION_KEY, gateway_env).start()
    try:
        async with (
            httpx.AsyncClient(base_url=gateway.url, timeout=30) as client,
            SseStream(server.url) as events,
        ):
            await events.wait_serving("2.0.0")
            body = {"version": "1.0.0"}
            denied = await client.post(
                "/admin/release/promote", json=body, headers={"x-api-key": PREDICTION_KEY}
            )
            assert denied.status_code == 403
            assert (await client.post("/admin/release/promote", json=body)).status_code == 401

            done = await client.post("/admin/release/promote", json=body, headers={"x-api-key": ADMIN_KEY})
            assert done.status_code == 200, done.text
            assert done.json()["release"]["stable"] == "1.0.0"
            await events.wait_for("model_loaded", "1.0.0", timeout=30)  # loaded and warmed first
            answer = await client.post("/predict", json=ROW, headers={"x-api-key": PREDICTION_KEY})
            assert answer.headers["x-model-version"] == "1.0.0"

            refused = await client.post(
                "/admin/release/promote", json={"version": "9.9.9"}, headers={"x-api-key": ADMIN_KEY}
            )
            assert refused.status_code == 409 and "9.9.9" in refused.json()["error"]

            history = await client.get("/admin/release/history", headers={"x-api-key": ADMIN_KEY})
            actors = {entry["actor"] for entry in history.json()["history"]}
            assert len(actors) == 1 and actors.pop().startswith("key:")  # the key's id, never the key
        assert ADMIN_KEY not in gateway.log_text() and TOKEN not in gateway.log_text()
        assert TOKEN not in server.log_text()
    finally:
        gateway.stop()
