"""Release control against a real `regwatch serve` on a real volume: the state survives a
restart, the canary split and its stickiness over 2,000 keyed requests, a hand edit of
`release.json`, a refused command, and the admin token kept out of every log line."""

import asyncio
import json

import httpx
import pytest
from support.distinct_models import relabelled_iris_model
from support.models import IRIS_ROW, publish
from support.release import TOKEN, admin, model_files, release
from support.server import ServerProcess
from support.sse import SseStream

from regwatch.registry.release import RELEASE_FILE

WITH_TOKEN = {"REGWATCH_ADMIN_TOKEN": TOKEN}
ROW = {"instances": [IRIS_ROW]}


async def sides(client: httpx.AsyncClient, keys: list[str]) -> dict[str, str]:
    """The version that answers each routing key (16 requests in flight)."""
    limit = asyncio.Semaphore(16)

    async def one(key: str) -> tuple[str, str]:
        async with limit:
            response = await client.post("/predict", json=ROW, headers={"X-Routing-Key": key})
            assert response.status_code == 200, response.text
            return key, response.headers["x-model-version"]

    return dict(await asyncio.gather(*(one(key) for key in keys)))


async def until_roles(events: SseStream, **roles: str) -> None:
    """Return once each version takes its role's traffic (`canary="3.0.0"`), from a fresh
    stream: those the snapshot shows at once, the others on their `release_version_ready`."""
    snapshot = await events.next()
    assert snapshot.event == "snapshot"
    waiting = {role: v for role, v in roles.items() if snapshot.data["release"]["roles"][role] != v}
    while waiting:
        ready = await events.wait_for("release_version_ready")
        if waiting.get(ready.data["role"]) == ready.version:
            del waiting[ready.data["role"]]


async def test_the_release_state_survives_a_restart(root, server_factory):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    publish(root, "3.0.0")
    server = server_factory(env=WITH_TOKEN)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        SseStream(server.url) as events,
    ):
        await events.wait_serving("3.0.0")
        changes = [
            ("POST", "/promote", {"version": "2.0.0"}),
            ("POST", "/canary", {"version": "3.0.0", "percent": 20}),
            ("POST", "/shadow", {"version": "1.0.0"}),
            ("PUT", "/aliases/champion", {"version": "1.0.0"}),
        ]
        for method, path, body in changes:
            answer = await release(client, method, path, body, actor="key:0123456789ab")
            event = await events.wait_for("release_changed")
            assert event.data["release"] == answer["release"] and event.data["model"] == "default"
        state = answer["release"]
    server.stop()

    restarted = server_factory(env=WITH_TOKEN)
    async with (
        httpx.AsyncClient(base_url=restarted.url, timeout=30) as client,
        SseStream(restarted.url) as events,
    ):
        await until_roles(events, canary="3.0.0", shadow="1.0.0")
        snapshot = (await client.get("/models")).json()["release"]
        assert snapshot["state"] == state
        assert snapshot["roles"] == {"stable": "2.0.0", "canary": "3.0.0", "shadow": "1.0.0"}
        assert (await release(client, "GET"))["release"] == state
        # Read before the first load decision: the promoted version served first, never latest.
        assert not any("default: serving 3.0.0" in line for line in restarted.lines)
        answered = await sides(client, [f"user-{i}" for i in range(200)])
        assert set(answered.values()) == {"2.0.0", "3.0.0"}
        pinned = await client.post("/predict", params={"version": "@champion"}, json=ROW)
        assert pinned.headers["x-model-version"] == "1.0.0"
        history = (await release(client, "GET", "/history"))["history"]
        assert [(h["action"], h["to"], h["actor"]) for h in history] == [
            ("promote", "2.0.0", "key:0123456789ab"),
            ("canary", "3.0.0", "key:0123456789ab"),
            ("shadow", "1.0.0", "key:0123456789ab"),
            ("alias-set", "1.0.0", "key:0123456789ab"),
        ]
        assert (history[1]["percent"], history[3]["alias"]) == (20, "champion")


async def test_the_canary_split_holds_is_sticky_and_only_grows_over_2000_keys(root, server_factory):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    server = server_factory(env=WITH_TOKEN)
    keys = [f"customer-{i}" for i in range(2000)]
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        SseStream(server.url) as events,
    ):
        await events.wait_serving("2.0.0")
        await release(client, "POST", "/promote", {"version": "1.0.0"})
        await events.wait_for("model_loaded", "1.0.0")
        await release(client, "POST", "/canary", {"version": "2.0.0", "percent": 5})
        first = await sides(client, keys)
        canary = {key for key, version in first.items() if version == "2.0.0"}
        assert set(first.values()) == {"1.0.0", "2.0.0"}
        assert abs(len(canary) / 20 - 5) <= 3, len(canary)
        assert await sides(client, keys) == first  # the same key, the same side

        await release(client, "POST", "/canary", {"version": "2.0.0", "percent": 25})
        raised = {key for key, version in (await sides(client, keys)).items() if version == "2.0.0"}
        assert abs(len(raised) / 20 - 25) <= 3, len(raised)
        assert canary <= raised  # raising the share moved keys stable -> canary, never back


async def test_a_hand_edit_is_followed_a_bad_one_rejected_and_a_refused_command_changes_nothing(
    root, server_factory
):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    server = server_factory(env=WITH_TOKEN)
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        SseStream(server.url) as events,
    ):
        await events.wait_serving("2.0.0")
        (root / RELEASE_FILE).write_text(json.dumps({"stable": "1.0.0", "aliases": {"old": "1.0.0"}}))
        changed = await events.wait_for("release_changed")
        assert (changed.data["release"]["stable"], changed.data["release"]["aliases"]) == (
            "1.0.0",
            {"old": "1.0.0"},
        )
        await events.wait_for("model_loaded", "1.0.0")
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "1.0.0"
        before = model_files(root)
        refused = await release(client, "POST", "/promote", {"version": "7.0.0"}, expect=409)
        assert "version '7.0.0' is not on the volume" in refused["error"]
        assert model_files(root) == before

        (root / RELEASE_FILE).write_text('{"stable": "2.0.0", "canary": {"version": "2.0.0"}}')
        rejected = await events.wait_for("release_rejected")
        assert "release.json cannot be used: canary must be" in rejected.data["reason"]
        assert (await client.post("/predict", json=ROW)).headers["x-model-version"] == "1.0.0"
        assert (await release(client, "GET"))["release"]["stable"] == "1.0.0"
        before = model_files(root)
        refused = await release(client, "POST", "/promote", {"version": "2.0.0"}, expect=409)
        assert "release.json cannot be used" in refused["error"]  # never written over a broken file
        assert model_files(root) == before


async def test_the_admin_token_is_required_and_never_logged(root, server_factory):
    publish(root, "1.0.0")
    wrong = "wrong-token-but-long-enough-0123"
    server = server_factory(env={**WITH_TOKEN, "REGWATCH_ACCESS_LOG": "true", "REGWATCH_LOG_LEVEL": "debug"})
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        SseStream(server.url) as events,
    ):
        await events.wait_serving("1.0.0")
        assert (await client.get("/release")).status_code == 401
        assert (await client.get("/release", headers=admin(token=wrong))).status_code == 401
        await release(client, "PUT", "/aliases/champion", {"version": "1.0.0"}, actor="key:abcdefabcdef")
        await release(client, "POST", "/promote", {"version": "9.0.0"}, expect=409)
    server.stop()
    assert "PUT /release/aliases/champion" in server.log_text()  # the access log ran
    assert TOKEN not in server.log_text() and wrong not in server.log_text()

    unset = server_factory()
    assert httpx.get(f"{unset.url}/release", headers=admin()).status_code == 403

    short = ServerProcess(root, env={"REGWATCH_ADMIN_TOKEN": "too-short-token"})
    with pytest.raises(RuntimeError, match="did not start"):
        short.start()
    assert "admin_token" in short.log_text() and "too-short-token" not in short.log_text()
