"""The live dashboard in a real headless Chromium: publish while the page is open, and watch
a canary take its share and a promote take it over."""

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.distinct_models import relabelled_iris_model
from support.models import IRIS_ROW, publish
from support.nats import NatsServer
from support.release import TOKEN, admin

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs chromium (.ci/run), so there a missing browser fails instead of skipping.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="needs Debian's chromium (apt-get install chromium)"
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_dashboard_shows_new_versions_live(root, server, page):
    from playwright.sync_api import expect

    publish(root, "1.0.0")
    page.goto(server.url + "/")
    expect(page.locator("#status-text")).to_have_text("live", timeout=15_000)
    expect(page.locator('tr[data-version="1.0.0"] .serving')).to_be_visible(timeout=15_000)

    publish(root, "1.1.0", metadata={"description": "the new one"})
    row = page.locator('tr[data-version="1.1.0"]')
    expect(row).to_contain_text("the new one", timeout=15_000)
    expect(row.locator(".serving")).to_be_visible(timeout=15_000)
    expect(row.locator(".latest")).to_be_visible()
    expect(page.locator("#serving")).to_have_text("1.1.0")
    expect(page.locator("#log")).to_contain_text("model_loaded")
    expect(page.locator("#fleet-panel")).to_be_hidden()  # a process alone has no fleet
    page.screenshot(path=str(root.parent / "dashboard.png"))


def test_dashboard_shows_every_model_live(root, server, page):
    from playwright.sync_api import expect

    publish(root, "1.0.0")
    publish(root / "models" / "churn", "2.0.0", metadata={"description": "churn two"})
    (root / "models" / "Bad Name").mkdir()
    page.goto(server.url + "/")
    expect(page.locator("#status-text")).to_have_text("live", timeout=15_000)
    expect(page.locator('#models tr[data-model="churn"]')).to_contain_text("2.0.0", timeout=15_000)
    expect(page.locator('#models tr[data-model="default"]')).to_contain_text("1.0.0")
    expect(page.locator("#rejected-models")).to_contain_text("models/Bad Name")

    publish(root / "models" / "fraud", "0.1.0")  # a model created while the page is open
    expect(page.locator('#models tr[data-model="fraud"] td').nth(1)).to_have_text("0.1.0", timeout=15_000)

    page.locator('#models tr[data-model="churn"]').click()
    expect(page.locator("#selected")).to_have_text("churn")
    expect(page.locator('tr[data-version="2.0.0"]')).to_contain_text("churn two")
    expect(page.locator('tr[data-version="1.0.0"]')).to_have_count(0)  # the default model's
    publish(root / "models" / "churn", "2.1.0")
    expect(page.locator('tr[data-version="2.1.0"] .serving')).to_be_visible(timeout=15_000)
    expect(page.locator("#log")).to_contain_text("model_loaded  churn  2.1.0")


def test_the_fleet_panel_shows_every_replica_in_cluster_mode(root, tmp_path, server_factory, page):
    from playwright.sync_api import expect

    publish(root, "1.0.0")
    with NatsServer(tmp_path / "nats") as nats:
        fleet = {
            "REGWATCH_NATS_URL": nats.url,
            "REGWATCH_FLEET_MEMBER_TTL": "1",
            "REGWATCH_FLEET_HEARTBEAT": "0.2",
        }
        first = server_factory(env={**fleet, "REGWATCH_REPLICA_ID": "api-1"})
        server_factory(env={**fleet, "REGWATCH_REPLICA_ID": "api-2"})
        page.goto(first.url + "/")
        expect(page.locator("#fleet-panel")).to_be_visible(timeout=15_000)
        expect(page.locator("#fleet-summary")).to_contain_text("seen from api-1: connected, ready")
        for replica in ("api-1", "api-2"):
            row = page.locator(f'#fleet tr[data-replica="{replica}"]')
            expect(row).to_contain_text("1.0.0", timeout=15_000)
            expect(row).to_contain_text("yes")

        publish(root, "2.0.0")
        for replica in ("api-1", "api-2"):
            row = page.locator(f'#fleet tr[data-replica="{replica}"] td:nth-child(3)')
            expect(row).to_have_text("2.0.0", timeout=15_000)
        expect(page.locator("#fleet-models")).to_contain_text("fleet version 2.0.0 (active)")
        expect(page.locator("#log")).to_contain_text("[api-2] model_loaded")
        page.screenshot(path=str(root.parent / "dashboard-fleet.png"))


class Traffic:
    """Keyed /predict requests in a thread, back to back, until stopped: what the chart plots."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failures: list[str] = []

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=10) as client:
            while not self._stop.is_set():
                answer = client.post(
                    "/predict", json={"instances": [IRIS_ROW]}, headers={"X-Routing-Key": uuid.uuid4().hex}
                )
                if answer.status_code != 200:
                    self.failures.append(answer.text)

    def __enter__(self) -> "Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_dashboard_shows_the_release_and_answers_per_second_by_version_and_role(root, server_factory, page):
    from playwright.sync_api import expect

    publish(root, "1.0.0")
    publish(root, "2.0.0", relabelled_iris_model())
    server = server_factory(env={"REGWATCH_ADMIN_TOKEN": TOKEN})
    page.goto(server.url + "/")
    release = page.locator('#releases tr[data-model="default"]')
    expect(release.locator(".stable")).to_have_text("2.0.0 · follows latest", timeout=15_000)
    with (
        httpx.Client(base_url=server.url, timeout=30, headers=admin()) as client,
        Traffic(server.url) as traffic,
    ):
        assert client.post("/release/promote", json={"version": "1.0.0"}).status_code == 200
        assert client.post("/release/canary", json={"version": "2.0.0", "percent": 50}).status_code == 200
        assert client.put("/release/aliases/champion", json={"version": "1.0.0"}).status_code == 200
        expect(release.locator(".stable")).to_have_text("1.0.0 · promoted 1.0.0", timeout=15_000)
        expect(release.locator(".canary")).to_have_text("2.0.0 at 50%", timeout=15_000)
        expect(release.locator(".aliases")).to_have_text("@champion → 1.0.0")

        answering = re.compile(r"^(?!0\.0/s)\d+\.\d/s$")  # a rate above zero
        canary = page.locator('#legend [data-series="default/2.0.0/canary"] .rate')
        expect(canary).to_have_text(answering, timeout=15_000)
        expect(page.locator('#legend [data-series="default/1.0.0/stable"] .rate')).to_have_text(answering)
        expect(page.locator('#chart polyline[data-series="default/2.0.0/canary"]')).to_have_count(1)

        promoted = client.post("/release/promote", json={"version": "2.0.0"})  # ends the canary
        assert promoted.status_code == 200
        expect(release.locator(".canary")).to_have_text("–", timeout=15_000)
        stable = page.locator('#legend [data-series="default/2.0.0/stable"] .rate')
        expect(stable).to_have_text(answering, timeout=15_000)
        expect(canary).to_have_text("0.0/s", timeout=15_000)
        expect(page.locator("#log")).to_contain_text("release_changed")
        page.screenshot(path=str(root.parent / "dashboard-release.png"))
    assert traffic.failures == []
