"""Hostile clients: half-sent request heads, open-file limits, floods of rows, odd Last-Event-IDs."""

import http.client
import resource
import socket
from pathlib import Path

import anyio
import httpx
import pytest
from support.inprocess import running_app, until_serving
from support.models import IRIS_ROW, publish
from support.server import ServerProcess
from support.sse import SseStream

from regwatch.api.routes.events import snapshot_bytes

SOCKET_BOUND = 30.0  # generous: a connection the server never closes fails the test here


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed the connection (EOF); a timeout means it never did."""
    sock.settimeout(SOCKET_BOUND)
    return sock.recv(4096) == b""


def test_connections_without_a_complete_request_head_are_closed(server_factory):
    server = server_factory(env={"REGWATCH_HEADER_TIMEOUT_SECONDS": "1"})
    address = ("127.0.0.1", server.port)
    half = socket.create_connection(address)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    silent = socket.create_connection(address)
    kept = http.client.HTTPConnection(*address, timeout=SOCKET_BOUND)
    kept.request("GET", "/healthz")
    assert kept.getresponse().read()  # a full request on a kept-alive connection is served ...
    assert kept.sock is not None
    kept.sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # ... but the next head never finishes
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(20):  # everyone else is served meanwhile
                assert client.get("/healthz").status_code == 200
        assert closed_by_server(half)
        assert closed_by_server(silent)
        assert closed_by_server(kept.sock)
    finally:
        half.close()
        silent.close()
        kept.close()


def test_the_head_deadline_never_cuts_a_long_response(server_factory):
    server = server_factory(
        env={"REGWATCH_HEADER_TIMEOUT_SECONDS": "0.5", "REGWATCH_SSE_KEEPALIVE_SECONDS": "0.1"}
    )
    with (
        httpx.Client(base_url=server.url, timeout=httpx.Timeout(5.0, read=10.0)) as client,
        client.stream("GET", "/events") as response,
    ):
        pings = 0
        for line in response.iter_lines():
            pings += line == ": ping"
            if pings == 20:  # twenty keep-alive ticks: well past the head deadline
                break
    assert pings == 20


def test_serve_raises_the_soft_open_file_limit_to_the_hard_limit(server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(256, hard)
    if lowered == hard:
        pytest.skip("the hard open-file limit leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))  # inherited by the server
    try:
        server = server_factory()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = Path(f"/proc/{server.pid}/limits").read_text()
    [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    assert line.split()[3:5] == [str(hard), str(hard)]
    server.wait_for_line(lambda l: f"open-file limit raised from {lowered} to {hard}" in l)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish(root, "1.0.0")
    with ServerProcess(root) as server:
        yield server


@pytest.mark.parametrize(
    "last_event_id",
    ["²", "١٢٣", "1" * 25, "-5", "+5", "1e3", "0x10"],
    ids=["superscript", "arabic-indic", "too-long", "negative", "plus", "exponent", "hex"],
)
async def test_a_malformed_last_event_id_gets_reset_and_a_snapshot(served, last_event_id):
    headers = {"Last-Event-ID": last_event_id.encode()}
    async with SseStream(served.url, headers=headers) as events:
        assert (await events.next()).event == "reset"
        assert (await events.next()).event == "snapshot"
    assert "Traceback" not in served.log_text()


async def test_a_malformed_last_event_id_in_the_query_gets_reset_too(served):
    async with SseStream(served.url, path="/events?last_event_id=%C2%B2") as events:
        assert [(await events.next()).event for _ in range(2)] == ["reset", "snapshot"]
    assert "Traceback" not in served.log_text()


async def test_a_flood_of_rows_is_refused_before_it_is_parsed(root):
    publish(root, "1.0.0")
    # A million one-value rows (4 MB, under the body limit), then bytes no JSON parser
    # accepts: the answer names the batch limit, so the body was never parsed.
    flood = b'{"instances": [' + b",".join([b"[1]"] * 1_000_000) + b"]} not json"
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        response = await client.post("/predict", content=flood, headers={"content-type": "application/json"})
        assert response.status_code == 422
        assert response.json()["error"] == "batch of 1000000 instances exceeds the limit of 1000"
        at_the_limit = await client.post("/predict", json={"instances": [IRIS_ROW] * 1000})
        assert at_the_limit.status_code == 200 and len(at_the_limit.json()["predictions"]) == 1000


async def test_streams_share_one_encoded_snapshot_per_bus_state(root):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        first = snapshot_bytes(svc)
        assert snapshot_bytes(svc) is first  # one object, however many streams send it
        publish(root, "1.1.0")
        await until_serving(svc, "1.1.0")
        fresh = snapshot_bytes(svc)
        assert fresh is not first and b'"serving": "1.1.0"' in fresh

        # Over HTTP: two streams, ended by the bus closing, carry that same snapshot.
        bodies: list[bytes] = []

        async def read_stream() -> None:
            bodies.append((await client.get("/events")).content)

        subscribers = svc.bus.subscriber_count
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_stream)
                tg.start_soon(read_stream)
                while svc.bus.subscriber_count < subscribers + 2:
                    await anyio.sleep(0)  # yield to the two requests until both subscribed
                svc.bus.close()
        assert bodies == [fresh, fresh]
