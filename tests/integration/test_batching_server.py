"""Batching in a real `regwatch serve` (uvicorn, uvloop, sockets): concurrent clients on
their own connections each get their own rows' predictions, every row predicted once."""

import re

import anyio
import httpx
from support.distinct_models import iris_rows, relabelled_iris_model
from support.models import publish
from support.sse import SseStream

CLIENTS = 16
REQUESTS = 40


async def test_concurrent_clients_each_get_their_own_rows_predictions(root, server_factory):
    model = relabelled_iris_model()
    publish(root, "1.0.0", model)
    server = server_factory()
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
    wrong: list[str] = []
    sent_rows = 0

    async def client(n: int) -> None:
        nonlocal sent_rows
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for i in range(REQUESTS):
                rows = iris_rows([(n * 31 + i * 7 + j) % 150 for j in range(1 + (n + i) % 3)])
                sent_rows += len(rows)
                response = await http.post("/predict", json={"instances": rows.tolist()})
                expected = {"model_version": "1.0.0", "predictions": model.predict(rows).tolist()}
                if response.status_code != 200 or response.json() != expected:
                    wrong.append(f"{response.status_code} {response.text} != {expected}")

    async with anyio.create_task_group() as clients:
        for n in range(CLIENTS):
            clients.start_soon(client, n)

    assert wrong == []
    async with httpx.AsyncClient(base_url=server.url) as http:
        metrics = (await http.get("/metrics")).text
    predicted = re.search(r"^regwatch_predict_batch_rows_sum (\S+)$", metrics, re.M)
    assert predicted and float(predicted[1]) == sent_rows
