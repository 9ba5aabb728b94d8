"""Browser fixtures: one demo service per module (``orchestrator run --demo``, fully analysed),
Debian's chromium driven by Playwright, and a fresh page per test that leaves a screenshot in
``test-output/browser/``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from redis import Redis as SyncRedis

from orchestrator.store.embedded import EmbeddedServer
from tests.harness import REPOSITORY, ServiceProcess, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
API_KEY = "browser-test-key"
SCREENSHOTS = REPOSITORY / "test-output" / "browser"


def demo_brands() -> dict[str, str]:
    """slug → name of every demo brand."""
    raw = (resources.files("orchestrator.demo") / "brands.json").read_text()
    return {spec["slug"]: spec["name"] for spec in json.loads(raw)}


def demo_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    lines = (resources.files("orchestrator.demo") / "mentions.jsonl").read_text().splitlines()
    for line in filter(str.strip, lines):
        brand = json.loads(line)["brand"]
        counts[brand] = counts.get(brand, 0) + 1
    return counts


def _ensure_chromium() -> str:
    """Debian's chromium, installed with apt when missing (CI runs as root)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does)")
    return CHROMIUM


@pytest.fixture(scope="module")
def private_valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of this module's own: the rest of the suite flushes the session's."""
    server = EmbeddedServer(tmp_path_factory.mktemp("dashboard-valkey"), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, private_valkey: EmbeddedServer
) -> Iterator[ServiceProcess]:
    """``orchestrator run --demo --workers 2`` with ``API_KEY`` set, once every demo mention
    is analysed and every brand summarized (about 45 s)."""
    env = {
        "REDIS_URL": private_valkey.url,
        "API_KEY": API_KEY,
        "SPIKE_GRACE_SEC": "0",
        "SUMMARY_MIN_INTERVAL_SEC": "2",  # the last summary soon after the last result
        "SHUTDOWN_GRACE_SEC": "5",
    }
    workdir = tmp_path_factory.mktemp("dashboard-service")
    service = ServiceProcess(workdir, env, ("run", "--demo", "--workers", "2")).start()
    try:
        service.wait_ready()
        expected = demo_counts()

        def summarized() -> bool:
            for brand, count in expected.items():
                answer = service.get(f"/v1/brands/{brand}/summary")
                if answer.status_code != 200 or answer.json()["totalMentions"] != count:
                    return False
            return True

        wait_until(summarized, timeout_s=240, what="every demo brand analysed and summarized")
        wait_until(
            lambda: httpx.get(f"{service.url}/v1/brands/quillfern/aggregate").json()["spikes"],
            timeout_s=60,
            what="the recall spike",
        )
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def store_of_demo(private_valkey: EmbeddedServer) -> Iterator[SyncRedis]:
    with SyncRedis.from_url(private_valkey.url) as client:
        yield client


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=_ensure_chromium(), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh context (empty sessionStorage) per test; its screenshot is saved at the end,
    failed or not, as ``test-output/browser/<test>.png``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()
    assert errors == [], f"script errors on the page: {errors}"
