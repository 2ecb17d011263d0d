"""Hostile HTTP input: fuzzing from the app's own OpenAPI schema, size limits, traversal."""

import http.client

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from support.models import publish
from support.server import ServerProcess
from support.sse import SseStream


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish(root, "1.0.0")
    publish(root, "1.1.0")
    with ServerProcess(root, env={"REGWATCH_MAX_BODY_BYTES": "65536"}) as server:
        anyio.run(_wait_serving, server.url)
        yield server


async def _wait_serving(url: str) -> None:
    async with SseStream(url) as events:
        await events.wait_serving("1.1.0")


def _operations(url: str) -> list:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    # /events is an endless stream, covered by its own tests.
    return [result.ok() for result in schema.exclude(path="/events").get_all_operations()]


def test_no_input_produces_a_server_error(live_server):
    """Schemathesis generates requests from the app's own OpenAPI schema (valid and not)."""
    operations = _operations(live_server.url)
    assert {op.path for op in operations} >= {"/predict", "/models", "/models/{version}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case) -> None:
            case.call_and_validate(base_url=live_server.url, checks=[not_a_server_error])

        no_server_error()


def test_a_body_over_the_limit_is_413(live_server):
    big = b'{"instances": [[' + b"1.0," * 40_000 + b"1.0]]}"
    response = httpx.post(
        f"{live_server.url}/predict", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "exceeds the limit of 65536 bytes" in response.json()["error"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_chunked_body_over_the_limit_is_413(live_server):
    def chunks():
        yield b'{"instances": [['
        for _ in range(100):
            yield b"1.0," * 1000
        yield b"1.0]]}"

    response = httpx.post(
        f"{live_server.url}/predict", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    "name",
    ["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%2fetc%2fpasswd", "1.0.0%2f..%2f..", "v" + "9" * 500, "%00"],
)
def test_traversal_attempts_never_reach_the_file_system(live_server, name):
    # http.client sends the path as written (httpx would resolve the dot segments first).
    connection = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    connection.request("GET", f"/models/{name}")
    response = connection.getresponse()
    assert response.status in (404, 422), response.read()
    connection.close()
    pinned = httpx.post(
        f"{live_server.url}/predict",
        params={"version": name.replace("%2f", "/")},
        json={"instances": [[1, 2, 3, 4]]},
    )
    assert pinned.status_code in (404, 422)


def test_pinned_versions_are_served_from_the_registry(live_server):
    response = httpx.post(
        f"{live_server.url}/predict", params={"version": "1.0"}, json={"instances": [[1, 2, 3, 4]]}
    )
    assert response.status_code == 200 and response.json()["model_version"] == "1.0.0"
