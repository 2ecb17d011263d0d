"""POST /predict with batching, in-process: the real lifespan (watcher, sync, live model,
batcher) over an ASGI transport. Concurrent requests are merged (the batch-size histogram
in /metrics shows it), and each still gets its own rows' predictions and its own version.
"""

import asyncio
import re
from typing import Any

import anyio
import numpy as np
from anyio.from_thread import start_blocking_portal
from hypothesis import given, settings
from hypothesis import strategies as st
from support.distinct_models import iris_rows, picky_iris_model, relabelled_iris_model
from support.inprocess import running_app, until_serving
from support.models import iris_model, publish

PLAIN, RELABELLED, PICKY = iris_model(), relabelled_iris_model(), picky_iris_model()
# The warm-up would predict a row of zeros, which the picky model refuses: give it rows it knows.
PICKY_EXAMPLES = {"examples": {"instances": iris_rows([0, 50]).tolist()}}


async def batch_histogram(client: Any) -> tuple[int, int]:
    """(predict calls, rows predicted) from /metrics."""
    text = (await client.get("/metrics")).text
    count = re.search(r"^regwatch_predict_batch_rows_count (\S+)$", text, re.M)
    total = re.search(r"^regwatch_predict_batch_rows_sum (\S+)$", text, re.M)
    assert count and total
    return int(float(count[1])), int(float(total[1]))


def expect(model: Any, rows: np.ndarray) -> list[Any]:
    return np.asarray(model.predict(rows)).tolist()


async def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(root):
    publish(root, "1.0.0", PLAIN)
    requests = [iris_rows(list(range(i, 150, 37))[: 1 + i % 4]) for i in range(16)]
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        responses = await asyncio.gather(
            *(client.post("/predict", json={"instances": rows.tolist()}) for rows in requests)
        )
        calls, rows_predicted = await batch_histogram(client)

    for rows, response in zip(requests, responses, strict=True):
        assert response.status_code == 200
        assert response.headers["x-model-version"] == "1.0.0"
        assert response.json() == {"model_version": "1.0.0", "predictions": expect(PLAIN, rows)}
    assert rows_predicted == sum(len(rows) for rows in requests)
    assert calls < len(requests)  # merged


async def test_a_request_the_model_rejects_fails_alone_while_its_batch_succeeds(root):
    publish(root, "1.0.0", PICKY, PICKY_EXAMPLES)
    good = [iris_rows([i, i + 1]) for i in range(0, 100, 20)]
    bad = iris_rows([7], rejected=True)
    bodies = [*good[:2], bad, *good[2:]]
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        responses = await asyncio.gather(
            *(client.post("/predict", json={"instances": rows.tolist()}) for rows in bodies)
        )
        calls, _ = await batch_histogram(client)

    assert calls == 1  # one batch: it failed, then each request was predicted alone
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 422, 200, 200, 200]
    assert "1.0.0 rejected the input" in responses[2].json()["error"]
    assert "unknown categories" in responses[2].json()["error"]
    for rows, response in zip(bodies, responses, strict=True):
        if response.status_code == 200:
            assert response.json()["predictions"] == expect(PICKY, rows)


async def test_pinned_and_default_requests_are_answered_by_their_own_versions(root):
    publish(root, "1.0.0", PLAIN)
    publish(root, "2.0.0", RELABELLED)
    rows = iris_rows(list(range(0, 150, 10)))
    async with running_app(root) as (client, svc):
        await until_serving(svc, "2.0.0")
        responses = await asyncio.gather(
            *(
                client.post(
                    "/predict", params={"version": "1.0.0"} if i % 2 else {}, json={"instances": [row]}
                )
                for i, row in enumerate(rows.tolist())
            )
        )

    for i, (row, response) in enumerate(zip(rows, responses, strict=True)):
        version, model = ("1.0.0", PLAIN) if i % 2 else ("2.0.0", RELABELLED)
        assert response.json() == {"model_version": version, "predictions": expect(model, row[None, :])}


async def test_a_swap_between_batches_is_invisible_to_clients(root):
    publish(root, "1.0.0", PLAIN)
    models = {"1.0.0": PLAIN, "2.0.0": RELABELLED}
    seen: list[list[str]] = [[] for _ in range(8)]
    problems: list[str] = []

    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")

        async def keep_predicting(mine: list[str], start: int) -> None:
            i = start
            while mine.count("2.0.0") < 20:
                rows = iris_rows([i % 150, (i * 7) % 150][: 1 + i % 2])
                response = await client.post("/predict", json={"instances": rows.tolist()})
                body = response.json()
                version = body.get("model_version")
                if response.status_code != 200 or body["predictions"] != expect(models[version], rows):
                    problems.append(f"{response.status_code} {body}")
                mine.append(version)
                i += 1

        async with anyio.create_task_group() as clients:
            for n, mine in enumerate(seen):
                clients.start_soon(keep_predicting, mine, n * 19)
            await anyio.to_thread.run_sync(publish, root, "2.0.0", RELABELLED)

    assert problems == []
    for mine in seen:  # each client saw the swap once, and never went back
        assert "1.0.0" in mine and mine == sorted(mine)


def test_any_interleaving_of_http_requests_answers_like_each_request_alone(tmp_path_factory):
    """Hypothesis drives one running app (in a portal's event loop) through random
    interleavings of default and pinned requests of random sizes, some of which the picky
    default model rejects."""
    root = tmp_path_factory.mktemp("registry")
    publish(root, "1.0.0", PLAIN)
    publish(root, "2.0.0", RELABELLED)
    publish(root, "3.0.0", PICKY, PICKY_EXAMPLES)
    models = {"1.0.0": PLAIN, "2.0.0": RELABELLED, "3.0.0": PICKY}

    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_app(root, model_cache_size=4, batch_max_rows=8)) as (
            client,
            svc,
        ),
    ):
        portal.call(until_serving, svc, "3.0.0")

        # One request: (pinned version or default, iris rows, rejected?, loop turns before it).
        request = st.tuples(
            st.sampled_from([None, "1.0.0", "2.0.0", "3.0.0"]),
            st.lists(st.integers(0, 149), min_size=1, max_size=5),
            st.booleans(),
            st.integers(0, 3),
        )

        async def scenario(script: list[tuple[Any, ...]]) -> list[Any]:
            tasks = []
            for version, indices, rejected, wait in script:
                for _ in range(wait):
                    await asyncio.sleep(0)
                body = {"instances": iris_rows(indices, rejected=rejected).tolist()}
                params = {"version": version} if version else {}
                tasks.append(asyncio.create_task(client.post("/predict", params=params, json=body)))
            return await asyncio.gather(*tasks)

        @given(script=st.lists(request, min_size=1, max_size=20))
        @settings(max_examples=40, deadline=None)
        def check(script: list[tuple[Any, ...]]) -> None:
            responses = portal.call(scenario, script)
            for (version, indices, rejected, _), response in zip(script, responses, strict=True):
                version = version or "3.0.0"
                rows = iris_rows(indices, rejected=rejected)
                try:
                    expected = {"model_version": version, "predictions": expect(models[version], rows)}
                except ValueError:
                    assert response.status_code == 422
                    assert f"model {version} rejected the input" in response.json()["error"]
                    continue
                assert response.status_code == 200
                assert response.json() == expected
                assert response.headers["x-model-version"] == version

        check()
        calls, rows_predicted = portal.call(batch_histogram, client)
        assert calls > 0 and rows_predicted > calls  # batches of more than one row happened
