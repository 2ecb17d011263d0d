"""Release control in-process (the real lifespan, watcher and probe children over a real
volume), where the case is about logic: promote, rollback, follow-latest, what is refused,
the admin token, aliases, what a release names that cannot serve, canary routing, shadow
agreement, and a model in ONNX."""

import json
import os
import shutil

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression
from support.distinct_models import IRIS_X, iris_rows, picky_iris_model, relabelled_iris_model
from support.hostile_models import Call, pickle_running, publish_bytes
from support.inprocess import next_event, running_app, until_serving
from support.metrics import samples
from support.models import IRIS_ROW, iris_model, publish
from support.release import TOKEN, admin, model_files, release

from regwatch.cli.convert import convert_verified
from regwatch.events import EventType
from regwatch.registry import ModelFormat, ModelRegistry
from regwatch.registry.release import RELEASE_FILE

ROW = {"instances": [IRIS_ROW]}


async def predict(client, version: str | None = None, key: str | None = None, model: str | None = None):
    params = {k: v for k, v in (("version", version), ("model", model)) if v is not None}
    headers = {"X-Routing-Key": key} if key is not None else {}
    response = await client.post("/predict", params=params, json=ROW, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


async def promote(client, svc, version: str, model: str | None = None) -> None:
    """Pin default traffic to `version` over HTTP and wait until it serves."""
    await release(client, "POST", "/promote", {"version": version}, model=model)
    await until_serving(svc, version, model=model)


async def test_promote_pins_new_versions_preload_rollback_returns_follow_latest_unpins(root, beacon):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        with svc.bus.subscribe({EventType.RELEASE_CHANGED}) as changes:
            answer = await release(client, "POST", "/promote", {"version": "1.0.0"}, actor="key:0123456789ab")
            assert changes.pending() == 1  # applied (and published) before the answer
            event = await changes.get()
        assert answer == {"model": "default", "release": event.data["release"]}
        assert (answer["release"]["mode"], answer["release"]["stable"]) == ("pinned", "1.0.0")
        assert answer["release"]["previous"] == "2.0.0"
        await until_serving(svc, "1.0.0")
        assert await predict(client) == "1.0.0"

        # A new version while promoted: loaded on its own, ready, but no default traffic.
        publish_bytes(root, "3.0.0", pickle_running(beacon.step("3.0.0"), result=iris_model()))
        probe, server = await beacon.next(), await beacon.next()
        assert (probe.tag, server.tag, server.pid) == ("3.0.0", "3.0.0", os.getpid())
        assert await predict(client, version="3.0.0") == "3.0.0"  # that very load
        assert await predict(client) == "1.0.0"
        view = (await client.get("/models")).json()
        assert (view["latest"], view["serving"], view["release"]["roles"]["stable"]) == (
            "3.0.0",
            "1.0.0",
            "1.0.0",
        )

        await promote(client, svc, "3.0.0")
        assert beacon.tags() == []  # promoting a pre-loaded version loads nothing
        back = await release(client, "POST", "/rollback", {})
        assert (back["release"]["stable"], back["release"]["previous"]) == ("1.0.0", "3.0.0")
        await until_serving(svc, "1.0.0")
        following = await release(client, "POST", "/follow-latest")
        assert (following["release"]["mode"], following["release"]["stable"]) == ("follow-latest", None)
        await until_serving(svc, "3.0.0")

        history = (await release(client, "GET", "/history"))["history"]
        assert [(h["actor"], h["action"], h["from"], h["to"]) for h in history] == [
            ("key:0123456789ab", "promote", "2.0.0", "1.0.0"),
            ("http", "promote", "1.0.0", "3.0.0"),
            ("http", "rollback", "3.0.0", "1.0.0"),
            ("http", "follow-latest", "1.0.0", None),
        ]
        assert all(h["at"].endswith("Z") for h in history)


async def test_every_refused_change_answers_409_or_422_and_changes_nothing(root):
    publish(root, "1.0.0")
    broken = root / "versions" / "4.0.0"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failures:
            publish_bytes(root, "2.0.0", pickle_running(Call(int, "not a number")))
            await next_event(failures, EventType.MODEL_LOAD_FAILED, "2.0.0")
        before = model_files(root)
        with svc.bus.subscribe({EventType.RELEASE_CHANGED}) as changes:
            refused = [
                ("POST", "/promote", {"version": "9.9.9"}, "version '9.9.9' is not on the volume"),
                ("POST", "/promote", {"version": "2.0.0"}, "version 2.0.0 failed to load: "),
                ("POST", "/promote", {"version": "4.0.0"}, "version '4.0.0' is not servable: "),
                ("POST", "/promote", {"version": "@champion"}, "no alias 'champion'"),
                ("POST", "/canary", {"version": "1.0.0", "percent": 0}, "percent must be in (0, 100]"),
                ("POST", "/canary", {"version": "1.0.0", "percent": 100.5}, "percent must be in (0, 100]"),
                ("POST", "/canary", {"version": "../../etc", "percent": 5}, "is not on the volume"),
                ("POST", "/shadow", {"version": "2.0.0"}, "failed to load"),
                ("POST", "/rollback", {}, "nothing to roll back to"),
                ("PUT", "/aliases/Bad Name", {"version": "1.0.0"}, "alias 'Bad Name' must match"),
                ("DELETE", "/aliases/champion", None, "no alias 'champion'"),
            ]
            for method, path, body, why in refused:
                answer = await release(client, method, path, body, expect=409)
                assert why in answer["error"], (path, body, answer)
                assert answer["request_id"]
            for body in (
                {"version": 1, "percent": 5},
                {"version": "1.0.0"},
                {"version": "1.0.0", "percent": "5"},
            ):
                answer = await release(client, "POST", "/canary", body, expect=422)
                assert answer["error"] and answer["request_id"]
            for path in ("/promote", "/rollback"):
                response = await client.post(f"/release{path}", content=b'{"version": ', headers=admin())
                assert response.status_code == 422, response.text
            await release(client, "POST", "/follow-latest", {"surprise": 1}, expect=422)
            assert changes.pending() == 0
        assert model_files(root) == before  # nothing written: not even the lock file
        assert (await release(client, "GET"))["release"]["mode"] == "follow-latest"


async def test_the_admin_token_gates_every_release_route(root):
    publish(root, "1.0.0")
    publish(root, "2.0.0")
    routes = [
        ("GET", "/release", None),
        ("GET", "/release/history", None),
        ("POST", "/release/promote", {"version": "1.0.0"}),
        ("POST", "/release/rollback", {}),
        ("POST", "/release/follow-latest", {}),
        ("POST", "/release/canary", {"version": "1.0.0", "percent": 5}),
        ("DELETE", "/release/canary", None),
        ("POST", "/release/shadow", {"version": "1.0.0"}),
        ("DELETE", "/release/shadow", None),
        ("PUT", "/release/aliases/champion", {"version": "1.0.0"}),
        ("DELETE", "/release/aliases/champion", None),
    ]
    async with running_app(root) as (client, svc):
        for method, path, body in routes:
            response = await client.request(method, path, json=body, headers=admin())
            assert response.status_code == 403, (path, response.text)
            assert (
                response.json()["error"]
                == "release changes over HTTP are disabled (no REGWATCH_ADMIN_TOKEN or REGWATCH_ADMIN_TOKEN_FILE)"
            )
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        wrong = [
            {},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer "},
            {"X-Regwatch-Actor": "mallory"},
        ]
        for method, path, body in routes:
            for headers in wrong:
                response = await client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
            # The token is checked before the body is even read.
            response = await client.request(
                method, path, content=b"{", headers={"Authorization": "Bearer no"}
            )
            assert response.status_code == 401
        for method, path, body in routes:  # in this order, every change is one that applies
            response = await client.request(method, path, json=body, headers=admin())
            assert response.status_code == 200, (path, response.text)
        history = (await client.get("/release/history", headers=admin())).json()["history"]
        assert len(history) == 9 and {entry["actor"] for entry in history} == {"http"}


async def test_aliases_pin_by_name_through_the_release_state(root):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        answer = await release(client, "PUT", "/aliases/champion", {"version": "1.0"})
        assert answer["release"]["aliases"] == {"champion": "1.0.0"}  # the folder's own name
        assert await predict(client, version="@champion") == "1.0.0"
        assert await predict(client) == "2.0.0"
        for unknown in ("@nope", "@", "@Champion"):
            response = await client.post("/predict", params={"version": unknown}, json=ROW)
            assert response.status_code == 404, response.text
            assert "no alias" in response.json()["error"]
        promoted = await release(client, "POST", "/promote", {"version": "@champion"})
        assert promoted["release"]["stable"] == "1.0.0"
        await release(client, "DELETE", "/aliases/champion")
        assert (await client.post("/predict?version=@champion", json=ROW)).status_code == 404
        infer = await client.post(
            "/v2/models/default/versions/@champion/infer",
            json={"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]},
        )
        assert infer.status_code == 404


async def test_a_named_version_that_cannot_serve_is_reported_and_what_serves_keeps_serving(root):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        await promote(client, svc, "1.0.0")
        with svc.bus.subscribe({EventType.RELEASE_VERSION_UNAVAILABLE}) as unavailable:
            shutil.rmtree(root / "versions" / "1.0.0")
            event = await next_event(unavailable, EventType.RELEASE_VERSION_UNAVAILABLE, "1.0.0")
            assert (event.data["role"], event.data["reason"]) == (
                "stable",
                "version 1.0.0 is not on the volume (or not complete)",
            )
            assert await predict(client) == "1.0.0"  # still in memory: it keeps serving
            # A hand edit naming a version whose load fails: said, and nothing changes.
            with svc.bus.subscribe({EventType.MODEL_LOAD_FAILED}) as failures:
                publish_bytes(root, "3.0.0", pickle_running(Call(int, "not a number")))
                await next_event(failures, EventType.MODEL_LOAD_FAILED, "3.0.0")  # pre-loaded: latest
            (root / RELEASE_FILE).write_text(json.dumps({"stable": "1.0.0", "shadow": "3.0.0"}))
            event = await next_event(unavailable, EventType.RELEASE_VERSION_UNAVAILABLE, "3.0.0")
            assert event.data["role"] == "shadow" and "failed to load" in event.data["reason"]
        view = (await client.get("/models")).json()["release"]
        assert view["unavailable"] == {
            "stable": "version 1.0.0 is not on the volume (or not complete)",
            "shadow": event.data["reason"],
        }
        assert view["roles"] == {"stable": "1.0.0", "canary": None, "shadow": None}
        assert await predict(client) == "1.0.0"


async def test_canary_takes_its_share_once_loaded_by_routing_key_on_predict_and_v2(root):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        await promote(client, svc, "1.0.0")
        with svc.bus.subscribe({EventType.RELEASE_VERSION_READY}) as ready:
            await release(client, "POST", "/canary", {"version": "2.0.0", "percent": 50})
            event = await next_event(ready, EventType.RELEASE_VERSION_READY, "2.0.0")
        assert event.data["role"] == "canary"
        sides = {key: await predict(client, key=key) for key in (f"user-{i}" for i in range(40))}
        assert set(sides.values()) == {"1.0.0", "2.0.0"}
        for key, version in sides.items():  # sticky, and the same on the V2 protocol
            assert await predict(client, key=key) == version
            infer = await client.post(
                "/v2/models/default/infer",
                json={"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW}]},
                headers={"X-Routing-Key": key},
            )
            assert infer.json()["model_version"] == version
        unkeyed = {await predict(client) for _ in range(60)}  # no key: a random draw each time
        assert unkeyed == {"1.0.0", "2.0.0"}
        assert await predict(client, version="1.0.0", key="user-1") == "1.0.0"  # pinned: no routing
        counted = samples((await client.get("/metrics")).text)
        assert counted["regwatch_predictions_total{model=default,role=canary,version=2.0.0}"] > 0
        assert counted["regwatch_predictions_total{model=default,role=pinned,version=1.0.0}"] == 1
        stopped = await release(client, "DELETE", "/canary")
        assert stopped["release"]["canary"] is None
        assert {await predict(client, key=key) for key in sides} == {"1.0.0"}  # applied before the answer


async def test_a_shadow_that_disagrees_or_raises_is_measured_and_never_fails_a_request(root):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    publish(root, "3.0.0", picky_iris_model(), {"examples": {"instances": IRIS_X[:2].tolist()}})
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "3.0.0")
        await promote(client, svc, "1.0.0")
        with svc.bus.subscribe({EventType.RELEASE_VERSION_READY}) as ready:
            await release(client, "POST", "/shadow", {"version": "2.0.0"})
            await next_event(ready, EventType.RELEASE_VERSION_READY, "2.0.0")
        for start in range(0, 150, 15):
            rows = IRIS_X[start : start + 15].tolist()
            answer = await client.post("/predict", json={"instances": rows})
            assert answer.json()["model_version"] == "1.0.0"
        await svc.default.shadow.drained()
        equal = int((iris_model().predict(IRIS_X) == relabelled_iris_model().predict(IRIS_X)).sum())
        view = (await client.get("/models")).json()["release"]
        assert view["roles"]["shadow"] == "2.0.0"
        assert view["shadow"] == {
            "version": "2.0.0",
            "compared": 150,
            "agreement": equal / 150,
            "mean_abs_diff": None,
            "dropped": 0,
            "failed": 0,
        }
        counted = samples((await client.get("/metrics")).text)
        assert counted["regwatch_shadow_agreement{model=default}"] == pytest.approx(equal / 150)
        assert counted["regwatch_shadow_comparisons_total{model=default}"] == 150
        assert counted["regwatch_predictions_total{model=default,role=shadow,version=2.0.0}"] == 150
        assert counted["regwatch_predictions_total{model=default,role=stable,version=1.0.0}"] == 150

        # A shadow that raises on what stable answers: counted, and every request answered.
        with svc.bus.subscribe({EventType.RELEASE_VERSION_READY}) as ready:
            await release(client, "POST", "/shadow", {"version": "3.0.0"})
            await next_event(ready, EventType.RELEASE_VERSION_READY, "3.0.0")
        for index in range(20):
            rows = iris_rows([index], rejected=True).tolist()  # values the picky model never saw
            assert (await client.post("/predict", json={"instances": rows})).status_code == 200
        await svc.default.shadow.drained()
        view = (await client.get("/models")).json()["release"]["shadow"]
        assert (view["version"], view["compared"], view["failed"]) == ("3.0.0", 0, 20)
        assert (
            samples((await client.get("/metrics")).text)["regwatch_shadow_failures_total{model=default}"]
            == 20
        )
        await release(client, "DELETE", "/shadow")
        assert (await client.get("/models")).json()["release"]["shadow"] is None


async def test_a_regressor_shadow_reports_its_mean_absolute_difference(root):
    x, y = load_iris(return_X_y=True)
    publish(root, "1.0.0", LinearRegression().fit(x, y))
    publish(root, "2.0.0", LinearRegression().fit(x, y + 0.25))
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0")
        await promote(client, svc, "1.0.0")
        with svc.bus.subscribe({EventType.RELEASE_VERSION_READY}) as ready:
            await release(client, "POST", "/shadow", {"version": "2.0.0"})
            await next_event(ready, EventType.RELEASE_VERSION_READY, "2.0.0")
        assert (await client.post("/predict", json={"instances": x[:30].tolist()})).status_code == 200
        await svc.default.shadow.drained()
        shadow = (await client.get("/models")).json()["release"]["shadow"]
        assert shadow["compared"] == 30 and shadow["agreement"] == 0.0
        assert shadow["mean_abs_diff"] == pytest.approx(0.25)
        counted = samples((await client.get("/metrics")).text)
        assert counted["regwatch_shadow_mean_abs_diff{model=default}"] == pytest.approx(0.25)


async def test_an_onnx_version_is_canaried_then_promoted_on_a_named_model(root):
    original = iris_model()
    rows = IRIS_X[::10]
    meta = {
        "n_features": 4,
        "examples": {"instances": rows.tolist(), "predictions": original.predict(rows).tolist()},
    }
    churn = root / "models" / "churn"
    publish(churn, "1.0.0", relabelled_iris_model())
    ModelRegistry(churn, scan=False).publish_bytes(
        convert_verified(original, ModelFormat.ONNX, meta), ModelFormat.ONNX, "2.0.0", meta
    )
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "2.0.0", model="churn")
        await promote(client, svc, "1.0.0", model="churn")
        with svc.bus.subscribe({EventType.RELEASE_VERSION_READY}) as ready:
            await release(client, "POST", "/canary", {"version": "2.0.0", "percent": 100}, model="churn")
            await next_event(ready, EventType.RELEASE_VERSION_READY, "2.0.0")
        answer = await client.post(
            "/predict?model=churn", json={"instances": rows.tolist()}, headers={"X-Routing-Key": "k"}
        )
        assert answer.headers["x-model-version"] == "2.0.0"
        assert answer.json()["predictions"] == original.predict(rows).tolist()
        promoted = await release(client, "POST", "/promote", {"version": "2.0.0"}, model="churn")
        assert promoted["model"] == "churn" and promoted["release"]["canary"] is None
        await until_serving(svc, "2.0.0", model="churn")
        assert (await release(client, "GET", model="churn"))["release"]["stable"] == "2.0.0"
        assert (await release(client, "GET"))["release"]["stable"] is None  # another model's state
        for method, path in (("GET", "/release"), ("POST", "/release/follow-latest")):
            response = await client.request(method, path, params={"model": "nope"}, headers=admin())
            assert response.status_code == 404


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda path: path.write_text('{"stable": "1.0.0",'), id="bad-json"),
        pytest.param(
            lambda path: path.write_text('{"stable": "1.0.0", "surprise\\u001b[2J": 1}'), id="unknown-key"
        ),
        pytest.param(
            lambda path: path.write_text(json.dumps({"canary": {"version": "1.0.0", "percent": 0}})),
            id="percent",
        ),
        pytest.param(lambda path: path.write_bytes(b" " * 70_000), id="huge"),
        pytest.param(lambda path: (path.unlink(), path.symlink_to("/etc/hostname")), id="symlink"),
        pytest.param(lambda path: (path.unlink(), os.mkfifo(path)), id="fifo"),
    ],
)
async def test_a_release_file_that_cannot_be_used_is_rejected_whole_and_the_last_good_state_stays(root, edit):
    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    (root / RELEASE_FILE).write_text(json.dumps({"stable": "1.0.0"}))
    async with running_app(root, admin_token=TOKEN) as (client, svc):
        await until_serving(svc, "1.0.0")  # read before the first load decision: 2.0.0 never served
        assert svc.default.live.serving is not None
        with svc.bus.subscribe({EventType.RELEASE_REJECTED, EventType.RELEASE_CHANGED}) as events:
            edit(root / RELEASE_FILE)
            event = await next_event(events, EventType.RELEASE_REJECTED, None)
        assert event.model == "default" and "release.json cannot be used" in event.data["reason"]
        assert str(root) not in event.data["reason"] and "\x1b" not in event.data["reason"]
        assert await predict(client) == "1.0.0"
        view = (await client.get("/models")).json()["release"]
        assert view["state"]["stable"] == "1.0.0" and view["file_problem"] == event.data["reason"]
        with svc.bus.subscribe({EventType.RELEASE_CHANGED}) as changes:
            (root / RELEASE_FILE).unlink()  # no file: the default state, following latest
            changed = await next_event(changes, EventType.RELEASE_CHANGED, None)
        assert changed.data["release"]["mode"] == "follow-latest"
        await until_serving(svc, "2.0.0")
        assert (await client.get("/models")).json()["release"]["file_problem"] is None


def test_a_short_or_spaced_admin_token_is_refused_at_start_without_being_echoed(root):
    from pydantic import ValidationError

    from regwatch.api.settings import Settings

    for token in ("too-short", "has a space in it, long enough"):
        with pytest.raises(ValidationError) as refused:
            Settings(registry=root, admin_token=token)
        assert token not in str(refused.value)
    assert Settings(registry=root, admin_token="").admin_token is None
