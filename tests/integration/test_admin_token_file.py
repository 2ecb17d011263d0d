"""The admin token from a file (`REGWATCH_ADMIN_TOKEN_FILE`, a mounted Compose or Kubernetes
secret): release over HTTP with it, in-process and through a real `regwatch serve`, and every
bad file refused at start with its reason, never with its content."""

import os
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from support.inprocess import running_app, until_serving
from support.models import publish
from support.release import TOKEN, admin, release
from support.server import ServerProcess
from support.sse import SseStream

from regwatch.api.secret_file import MAX_SECRET_BYTES
from regwatch.api.settings import Settings


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    return folder


def token_file(secrets: Path, content: str | bytes = f"{TOKEN}\n", name: str = "admin_token") -> Path:
    path = secrets / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


async def test_the_token_file_opens_the_release_routes(root, secrets):
    publish(root, "1.0.0")
    publish(root, "2.0.0")
    async with running_app(root, admin_token_file=token_file(secrets, f"\n  {TOKEN}  \r\n")) as (client, svc):
        await until_serving(svc, "2.0.0")
        promoted = await release(client, "POST", "/promote", {"version": "1.0.0"}, actor="key:0123456789ab")
        assert promoted["release"]["stable"] == "1.0.0"
        await until_serving(svc, "1.0.0")
        history = await release(client, "GET", "/history")
        assert history["history"][-1]["actor"] == "key:0123456789ab"
        for headers in ({}, admin(token=TOKEN[:-1]), admin(token="x" * len(TOKEN))):
            assert (await client.get("/release", headers=headers)).status_code == 401


def test_a_link_to_the_secret_is_followed(root, secrets):
    """Kubernetes mounts each secret as a link into a hidden folder of the volume."""
    (secrets / "..data").mkdir()
    target = token_file(secrets / "..data")
    (secrets / "admin_token").symlink_to(target)
    settings = Settings(registry=root, admin_token_file=secrets / "admin_token")
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == TOKEN


def test_the_variable_names_the_file_and_a_blank_one_is_unset(root, secrets, monkeypatch):
    monkeypatch.setenv("REGWATCH_ADMIN_TOKEN_FILE", str(token_file(secrets)))
    token = Settings(registry=root).admin_token
    assert token is not None and token.get_secret_value() == TOKEN
    monkeypatch.setenv("REGWATCH_ADMIN_TOKEN_FILE", " ")
    assert Settings(registry=root).admin_token is None


def test_every_bad_token_file_is_refused_without_echoing_it(root, secrets):
    fifo = secrets / "fifo"
    os.mkfifo(fifo)
    dangling = secrets / "dangling"
    dangling.symlink_to(secrets / "nowhere")
    short = "Sh0rtT0ken"
    cases = {
        "missing": (secrets / "missing", "cannot be read (No such file or directory)"),
        "dangling": (dangling, "cannot be read (No such file or directory)"),
        "folder": (secrets, "is not a regular file"),
        "fifo": (fifo, "is not a regular file"),  # and the start does not hang on it
        "empty": (token_file(secrets, " \n\n", "empty"), "is empty"),
        "huge": (
            token_file(secrets, TOKEN + " " * MAX_SECRET_BYTES, "huge"),
            f"is larger than {MAX_SECRET_BYTES} bytes: not a secret",
        ),
        "short": (token_file(secrets, f"{short}\n", "short"), "the token is too short: at least 16"),
        "two lines": (
            token_file(secrets, f"{TOKEN}\n{TOKEN}\n", "two"),
            "the token has a character outside printable ASCII",
        ),
        "not utf-8": (
            token_file(secrets, TOKEN.encode() + b"\xff\xfe", "binary"),
            "the token has a character outside printable ASCII",
        ),
    }
    for name, (path, reason) in cases.items():
        with pytest.raises(ValidationError) as refused:
            Settings(registry=root, admin_token_file=path)
        message = str(refused.value)
        assert f"REGWATCH_ADMIN_TOKEN_FILE {path}" in message and reason in message, (name, message)
        assert TOKEN not in message and short not in message, name
    with pytest.raises(ValidationError) as both:
        Settings(registry=root, admin_token=TOKEN, admin_token_file=token_file(secrets))
    assert "both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE are set: set only one" in str(both.value)
    assert TOKEN not in str(both.value)


async def test_a_real_server_reads_the_token_file_and_never_logs_it(root, secrets, server_factory):
    publish(root, "1.0.0")
    publish(root, "2.0.0")
    server = server_factory(
        env={"REGWATCH_ADMIN_TOKEN_FILE": str(token_file(secrets)), "REGWATCH_ACCESS_LOG": "true"}
    )
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        SseStream(server.url) as events,
    ):
        await events.wait_serving("2.0.0")
        assert (await client.get("/release")).status_code == 401
        await release(client, "POST", "/promote", {"version": "1.0.0"})
        await events.wait_serving("1.0.0")
    server.stop()
    assert "POST /release/promote" in server.log_text()  # the access log ran
    assert TOKEN not in server.log_text()

    fifo = secrets / "fifo"
    os.mkfifo(fifo)
    for env, reason in (
        ({"REGWATCH_ADMIN_TOKEN_FILE": str(fifo)}, f"REGWATCH_ADMIN_TOKEN_FILE {fifo} is not a regular file"),
        (
            {"REGWATCH_ADMIN_TOKEN_FILE": str(token_file(secrets)), "REGWATCH_ADMIN_TOKEN": TOKEN},
            "both REGWATCH_ADMIN_TOKEN and REGWATCH_ADMIN_TOKEN_FILE are set: set only one",
        ),
    ):
        refused = ServerProcess(root, env=env)
        with pytest.raises(RuntimeError, match="did not start"):
            refused.start()
        assert f"error: invalid settings: Value error, {reason}" in refused.log_text()
        assert TOKEN not in refused.log_text()
