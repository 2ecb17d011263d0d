"""Stopping a real `regwatch serve`: streams end at once, requests in flight finish, no ERROR."""

import os
import signal
import threading

import anyio
import httpx
import pytest
from support.gated_model import GatedModel
from support.models import IRIS_ROW, publish
from support.server import REPO
from support.sse import SseStream

EXIT_BOUND = 30.0  # generous: only a stop that hangs (or waits out a stream) gets near it


async def read_to_the_end(events: SseStream) -> None:
    """Read until the server ends the stream; an abrupt close would raise an httpx error."""
    with pytest.raises(EOFError):
        while True:
            await events.next(timeout=EXIT_BOUND)


def assert_clean_log(text: str) -> None:
    assert "ERROR" not in text and "Traceback" not in text, text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_stop_ends_open_event_streams_and_logs_no_error(root, server_factory, sig):
    publish(root, "1.0.0")
    server = server_factory()
    async with SseStream(server.url) as first, SseStream(server.url) as second:
        await first.wait_serving("1.0.0")
        await second.next()
        server.send_signal(sig)
        await read_to_the_end(first)
        await read_to_the_end(second)
    server.wait(timeout=EXIT_BOUND)
    assert_clean_log(server.log_text())


async def test_a_prediction_in_flight_finishes_after_the_streams_ended(root, server_factory, tmp_path):
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    publish(root, "1.0.0", model=GatedModel(gate))
    server = server_factory(env={"PYTHONPATH": str(REPO / "tests"), "REGWATCH_INLINE_ROWS": "0"})
    answers: list[httpx.Response] = []

    def predict() -> None:
        answers.append(httpx.post(f"{server.url}/predict", json={"instances": [IRIS_ROW] * 2}, timeout=60))

    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        caller = threading.Thread(target=predict)
        caller.start()
        # Opening the FIFO returns once the model opened it: the prediction is under way.
        release = await anyio.to_thread.run_sync(os.open, gate, os.O_WRONLY)
        try:
            server.send_signal(signal.SIGTERM)
            await read_to_the_end(events)
            assert caller.is_alive() and answers == []  # the stream did not wait for the request
        finally:
            os.close(release)  # the model reads EOF and answers
    caller.join(EXIT_BOUND)
    [answer] = answers
    assert answer.status_code == 200 and answer.json() == {"model_version": "1.0.0", "predictions": [0, 0]}
    server.wait(timeout=EXIT_BOUND)
    assert_clean_log(server.log_text())
