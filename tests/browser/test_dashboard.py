"""The dashboard in a real browser, on the demo, analysed by a real service and its workers."""

from __future__ import annotations

import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import cast

import pytest
from playwright.sync_api import Locator, Page, expect
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from orchestrator.dispatch import WORKERS_GROUP, TaskQueue
from orchestrator.keys import Keys
from orchestrator.protocol import FIELD, Delivery, TaskError, decode_task, encode, new_task
from orchestrator.store.embedded import EmbeddedServer
from tests.demo import API_KEY, demo_brands
from tests.harness import ServiceProcess, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(360)]  # the demo takes about 45 s to analyse
KEYS = Keys()
_Entries = list[tuple[bytes, dict[bytes, bytes]]]
KIND = "dashboard-check"  # no worker reads it: a re-driven task stays on its stream


async def _dead_letter(redis_url: str) -> str:
    """A task dead-lettered through the queue's own failure path; its task id."""
    redis = Redis.from_url(redis_url)
    try:
        queue = TaskQueue(redis, KEYS)
        await queue.ensure_groups([KIND])
        task = new_task(KIND, "quillfern", {"check": True}, fence=0, max_attempts=1)
        stream = KEYS.partition(0).task_stream(KIND)
        await redis.xadd(stream, {FIELD: encode(task)})
        reply = await redis.xreadgroup(WORKERS_GROUP, "browser-test", {stream: ">"}, count=1)
        ((_, [(entry_id, _)]),) = cast(list[tuple[bytes, _Entries]], reply)
        delivery = Delivery(stream, entry_id, encode(task), task)
        error = TaskError(type="RuntimeError", message="the model is unavailable")
        assert await queue.fail(delivery, error, "browser-test-worker", None) == "dead"
        return task.task_id
    finally:
        await redis.aclose()


def dead_letter(server: EmbeddedServer) -> str:
    # In a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, _dead_letter(server.url)).result()


def is_dead(store: SyncRedis, task_id: str) -> bool:
    return bool(store.hexists(KEYS.partition(0).task_dead_index, task_id))


def queued(store: SyncRedis, task_id: str) -> bool:
    """The task is back on its stream, as a first attempt, and counted in flight."""
    entries = cast(_Entries, store.xrange(KEYS.partition(0).task_stream(KIND)))
    tasks = [decode_task(fields[FIELD]) for _, fields in entries]
    back = [task for task in tasks if task.task_id == task_id and task.attempt == 1]
    return bool(back) and bool(store.hexists(KEYS.partition(0).task_active, task_id))


def tab_to(page: Page, target: Locator, presses: int = 200) -> None:
    """Press Tab until ``target`` has the focus: it is reachable by keyboard."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with the Tab key")


def test_the_brand_list_shows_every_demo_brand(
    page: Page, demo: ServiceProcess, demo_recall: datetime
) -> None:
    page.goto(demo.url + "/")
    rows = page.locator("tr[data-brand]")
    expect(rows).to_have_count(len(demo_brands()))
    for slug, name in demo_brands().items():
        row = page.locator(f'tr[data-brand="{slug}"]')
        expect(row.get_by_role("link", name=name)).to_have_attribute("href", f"/brands/{slug}")
        expect(row.locator("svg.spark path")).to_have_count(1)
    recall = f"{demo_recall:%d %b %H:%M}"
    expect(page.locator('tr[data-brand="quillfern"] .badge.spike')).to_contain_text(recall)
    expect(page.locator(".badge.spike")).to_have_count(1)  # the recall, and nothing else
    expect(page.locator("#live-status")).to_contain_text("Live", timeout=15_000)


def test_search_and_status_filter(page: Page, demo: ServiceProcess) -> None:
    page.goto(demo.url + "/")
    page.get_by_label("Search").fill("tamsrow")
    page.keyboard.press("Enter")
    expect(page.locator("tr[data-brand]")).to_have_count(1)
    expect(page.locator('tr[data-brand="tamsrow"]')).to_be_visible()
    page.get_by_label("Search").fill("")
    page.get_by_label("Status").select_option("paused")  # submits on change
    expect(page.get_by_text("No brand matches")).to_be_visible()
    assert "status=paused" in page.url
    page.get_by_label("Status").select_option("active")
    expect(page.locator("tr[data-brand]")).to_have_count(len(demo_brands()))


def test_a_brand_page_draws_its_charts_and_cites_mentions(page: Page, demo: ServiceProcess) -> None:
    page.goto(demo.url + "/brands/orrindale?range=all")
    expect(page.get_by_role("heading", name="Orrindale Coffee")).to_be_visible()
    for chart in ("volume", "sentiment"):
        canvas = page.locator(f'[data-chart="{chart}"] canvas')
        expect(canvas).to_have_count(1)
        painted = canvas.evaluate(
            """canvas => {
                const { width, height } = canvas;
                const data = canvas.getContext("2d").getImageData(0, 0, width, height).data;
                let painted = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
                return painted;
            }"""
        )
        assert painted > 1000, f"the {chart} chart is blank"
    summary = page.locator(".summary")
    expect(summary.locator(".headline")).to_contain_text("Orrindale Coffee")
    cited = summary.locator(".cited a[href^='https://']")
    expect(cited.first).to_be_visible()
    assert cited.count() >= 2
    expect(page.locator(".topics li").first).to_be_visible()
    expect(page.locator(".clusters .representatives a").first).to_be_visible()


def test_the_spike_brand_shows_a_spike_marker(
    page: Page, demo: ServiceProcess, demo_recall: datetime
) -> None:
    page.goto(demo.url + "/brands/quillfern?range=all")
    marker = page.locator('[data-chart="volume"] .spike-marker')
    expect(marker).to_have_count(1)
    recall = demo_recall
    label = re.compile(rf"^Spike {recall:%d %b %H:%M} UTC")
    expect(marker).to_have_attribute("aria-label", label)
    expect(page.locator(".spikes li")).to_contain_text(f"{recall:%d %b %Y %H:%M} UTC")
    expect(page.locator(".summary .headline")).to_contain_text(f"spike on {recall:%d %b %H:%M} UTC")
    calm = page.goto(demo.url + "/brands/tamsrow?range=all")
    assert calm is not None
    assert calm.ok
    expect(page.locator('[data-chart="volume"] canvas')).to_have_count(1)
    expect(page.locator(".spike-marker")).to_have_count(0)


def test_retry_without_the_key_fails_visibly(
    page: Page, demo: ServiceProcess, demo_store: SyncRedis, demo_valkey: EmbeddedServer
) -> None:
    task_id = dead_letter(demo_valkey)
    page.goto(demo.url + "/system")
    retry = page.get_by_role("button", name=f"Retry task {task_id}")
    retry.click()
    dialog = page.get_by_role("dialog", name="API key needed")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("needs the API key")

    retry.click()  # a wrong key: the server refuses it, and the page says so
    page.get_by_role("textbox", name="API key").fill("not-the-key")
    page.keyboard.press("Enter")
    expect(alert).to_contain_text("refused")
    expect(alert).to_contain_text("401")
    assert is_dead(demo_store, task_id)
    assert not queued(demo_store, task_id)


def test_retrying_a_dead_letter_moves_it_back_to_the_queue(
    page: Page, demo: ServiceProcess, demo_store: SyncRedis, demo_valkey: EmbeddedServer
) -> None:
    task_id = dead_letter(demo_valkey)
    page.goto(demo.url + "/system")
    row = page.locator(f'tr[data-dead="{task_id}"]')
    expect(row).to_contain_text("the model is unavailable")
    retry = row.get_by_role("button", name=f"Retry task {task_id}")
    tab_to(page, retry)
    page.keyboard.press("Enter")
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_be_focused()
    key.fill(API_KEY)
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="back on the queue")).to_be_visible()
    wait_until(lambda: queued(demo_store, task_id), timeout_s=5, what="the task queued")
    assert not is_dead(demo_store, task_id)
    expect(row).to_have_count(0, timeout=15_000)  # the live region drops it


def test_refreshing_a_summary_with_the_key(
    page: Page, demo: ServiceProcess, demo_store: SyncRedis
) -> None:
    def made_at() -> str:
        return str(json.loads(demo_store.get("summary:brand:tamsrow") or b"{}")["generatedAt"])

    before = made_at()
    page.goto(demo.url + "/brands/tamsrow")
    page.evaluate(f"sessionStorage.setItem('orchestrator.apiKey', '{API_KEY}')")
    refresh = page.get_by_role("button", name="Refresh summary")
    tab_to(page, refresh)
    page.keyboard.press("Enter")  # the key is in the tab's storage: no question asked
    expect(page.get_by_role("status").filter(has_text="made again")).to_be_visible()
    assert made_at() > before
    expect(page.get_by_role("button", name="Forget API key")).to_be_visible()
