"""Anything dropped onto the volume: the entry is rejected with a reason, the last good model
keeps serving, later versions are still picked up, and a restart with the entry present
starts and serves (issue 10)."""

import json
import subprocess
import sys

import anyio
import httpx
import pytest
from support.hostile import BAD, HOSTILE, SECRET
from support.inprocess import running_app, until_serving
from support.logs import log_lines
from support.models import IRIS_ROW, build_folder, move_in, publish
from support.sse import SseStream

from regwatch.events import EventType


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in a response")

    return json.loads(text, parse_constant=refuse)


async def _served_by(client: httpx.AsyncClient) -> str:
    response = await client.post("/predict", json={"instances": [IRIS_ROW]})
    assert response.status_code == 200, response.text
    return response.json()["model_version"]


async def _rejection(subscription, name: str, timeout: float = 10.0) -> dict:
    with anyio.fail_after(timeout):
        while (event := await subscription.get()).version != name:
            pass
    return event.data


@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_a_hostile_entry_is_rejected_and_disturbs_nothing(root, tmp_path, kind):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.VERSION_REJECTED}) as rejections:
            expected = HOSTILE[kind](root / "versions", tmp_path)
            rejected = await _rejection(rejections, BAD)
        assert expected in rejected["reason"]
        assert await _served_by(client) == "1.0.0"

        move_in(build_folder(tmp_path / "good"), root, "2.0.0")
        await until_serving(svc, "2.0.0")
        assert (await client.get(f"/models/{BAD}")).status_code == 404
        listing = await client.get("/models")
        assert SECRET not in listing.text
        _strict_json(listing.text)

    async with running_app(root) as (client, svc):  # a restart with the entry still there
        await until_serving(svc, "2.0.0")
        listing = (await client.get("/models")).json()
        assert BAD in {entry["version"] for entry in listing["rejected"]}
        assert [entry["version"] for entry in listing["versions"]] == ["1.0.0", "2.0.0"]


async def test_conflicting_spellings_are_listed_as_rejected(root, tmp_path):
    publish(root, "1.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with svc.bus.subscribe({EventType.VERSION_REJECTED}) as rejections:
            move_in(build_folder(tmp_path / "dup"), root, "1.0")
            await _rejection(rejections, "1.0")
        rejected = {
            entry["version"]: entry["reason"] for entry in (await client.get("/models")).json()["rejected"]
        }
        assert set(rejected) == {"1.0", "1.0.0"}
        assert all("conflict" in reason for reason in rejected.values())
        assert await _served_by(client) == "1.0.0"  # nothing better to serve: the last good one stays
        move_in(build_folder(tmp_path / "next"), root, "2.0.0")
        await until_serving(svc, "2.0.0")
    async with running_app(root) as (client, svc):
        await until_serving(svc, "2.0.0")
        rejected = {entry["version"] for entry in (await client.get("/models")).json()["rejected"]}
        assert rejected == {"1.0", "1.0.0"}


async def test_a_name_with_a_newline_is_listed_safely(root, tmp_path):
    publish(root, "1.0.0")
    (root / "versions" / "evil\nname").mkdir()
    (root / "versions" / "2.0.0\x1b[2J").mkdir()
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        names = {entry["version"] for entry in (await client.get("/models")).json()["rejected"]}
    assert names == {"evil\\nname", "2.0.0\\x1b[2J"}
    listing = subprocess.run(
        [sys.executable, "-m", "regwatch.cli", "ls", "--registry", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 3 and all(line[:2] in ("* ", "! ") for line in lines), lines


async def test_versions_replaced_by_a_file_then_restored(root, tmp_path):
    publish(root, "1.0.0")
    versions, aside = root / "versions", root / "versions.aside"
    async with running_app(root) as (client, svc):
        await until_serving(svc, "1.0.0")
        with log_lines("regwatch.sync") as log:
            versions.rename(aside)
            versions.write_text("not a folder")
            await log.wait_for("keeping the versions already known")
            assert await _served_by(client) == "1.0.0"
            assert [v["version"] for v in (await client.get("/models")).json()["versions"]] == ["1.0.0"]
            versions.unlink()
            aside.rename(versions)
        move_in(build_folder(tmp_path / "next"), root, "2.0.0")
        await until_serving(svc, "2.0.0")


async def test_a_start_with_versions_a_plain_file_serves_once_it_is_back(root, tmp_path):
    publish(root, "1.0.0")
    versions, aside = root / "versions", root / "versions.aside"
    versions.rename(aside)
    versions.write_text("not a folder")
    with log_lines("regwatch.sync") as log:
        async with running_app(root) as (client, svc):
            assert (await client.get("/readyz")).status_code == 503
            await log.wait_for("keeping the versions already known")
            versions.unlink()
            aside.rename(versions)
            await until_serving(svc, "1.0.0")


async def test_a_server_starts_with_every_hostile_entry_present(root, server_factory, tmp_path):
    """A real `regwatch serve` process: no entry blocks start-up or stops discovery."""
    publish(root, "1.0.0")
    expected = {
        f"9.{i}.0": make(root / "versions", tmp_path, f"9.{i}.0") for i, make in enumerate(HOSTILE.values())
    }
    server = server_factory()
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        listing = client.get("/models").json()
        assert client.get("/readyz").status_code == 200
    rejected = {entry["version"]: entry["reason"] for entry in listing["rejected"]}
    for name, reason in expected.items():
        assert reason in rejected[name], (name, rejected.get(name))
    assert [entry["version"] for entry in listing["versions"]] == ["1.0.0"]
    assert "Traceback" not in server.log_text()


async def test_a_server_process_survives_a_fifo_dropped_at_runtime(root, server, tmp_path):
    """The FIFO that used to block the sync forever: later versions are still served."""
    publish(root, "1.0.0")
    async with SseStream(server.url) as events:
        await events.wait_serving("1.0.0")
        HOSTILE["fifo_metadata"](root / "versions", tmp_path)
        await events.wait_for("version_rejected", BAD)
        move_in(build_folder(tmp_path / "next"), root, "2.0.0")
        await events.wait_for("model_loaded", "2.0.0")
