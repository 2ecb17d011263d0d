"""The live dashboard in a real headless Chromium: publish while the page is open."""

import os
import shutil

import pytest
from support.models import publish
from support.nats import NatsServer

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


def test_dashboard_shows_new_versions_live(root, server):
    from playwright.sync_api import expect, sync_playwright

    publish(root, "1.0.0")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
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
        finally:
            browser.close()


def test_dashboard_shows_every_model_live(root, server):
    from playwright.sync_api import expect, sync_playwright

    publish(root, "1.0.0")
    publish(root / "models" / "churn", "2.0.0", metadata={"description": "churn two"})
    (root / "models" / "Bad Name").mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            expect(page.locator("#status-text")).to_have_text("live", timeout=15_000)
            expect(page.locator('tr[data-model="churn"]')).to_contain_text("2.0.0", timeout=15_000)
            expect(page.locator('tr[data-model="default"]')).to_contain_text("1.0.0")
            expect(page.locator("#rejected-models")).to_contain_text("models/Bad Name")

            publish(root / "models" / "fraud", "0.1.0")  # a model created while the page is open
            expect(page.locator('tr[data-model="fraud"] td').nth(1)).to_have_text("0.1.0", timeout=15_000)

            page.locator('tr[data-model="churn"]').click()
            expect(page.locator("#selected")).to_have_text("churn")
            expect(page.locator('tr[data-version="2.0.0"]')).to_contain_text("churn two")
            expect(page.locator('tr[data-version="1.0.0"]')).to_have_count(0)  # the default model's
            publish(root / "models" / "churn", "2.1.0")
            expect(page.locator('tr[data-version="2.1.0"] .serving')).to_be_visible(timeout=15_000)
            expect(page.locator("#log")).to_contain_text("model_loaded  churn  2.1.0")
        finally:
            browser.close()


def test_the_fleet_panel_shows_every_replica_in_cluster_mode(root, tmp_path, server_factory):
    from playwright.sync_api import expect, sync_playwright

    publish(root, "1.0.0")
    with NatsServer(tmp_path / "nats") as nats:
        fleet = {
            "REGWATCH_NATS_URL": nats.url,
            "REGWATCH_FLEET_MEMBER_TTL": "1",
            "REGWATCH_FLEET_HEARTBEAT": "0.2",
        }
        first = server_factory(env={**fleet, "REGWATCH_REPLICA_ID": "api-1"})
        server_factory(env={**fleet, "REGWATCH_REPLICA_ID": "api-2"})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM or "/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
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
            finally:
                browser.close()
