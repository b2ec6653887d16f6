"""The Optimize page in headless Chromium: a study on bob's cached candles, saved after confirmation.

bob is not trading (see conftest.py), so saving his settings changes no running strategy; his
candle cache is filled here with seeded synthetic candles of his market and interval. His sell switches
are all off (conftest.py), so the study searches the switches too, or no trade would ever close.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tradebot.core.models import Interval
from tradebot.marketdata.synthetic import generate_candles
from tradebot.services.storage import open_user_store

from .conftest import MARKET, Stack, logged_in, screenshot, wait_app_settled

CANDLES = 3_000
STUDY_SECONDS = 120


def _cache_candles(stack: Stack) -> None:
    series = generate_candles(CANDLES, interval=Interval.MINUTE1, seed=31)
    candles = [series.candle(index) for index in range(CANDLES)]
    with open_user_store(stack.home, "bob") as store, store.transaction() as transaction:
        transaction.save_candles(MARKET, Interval.MINUTE1, candles)


def test_optimize_page_runs_a_study_and_saves_only_after_confirmation(page: Page, stack: Stack) -> None:
    _cache_candles(stack)
    logged_in(page, "bob")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Optimize").click()
    wait_app_settled(page)
    expect(page.get_by_role("heading", name=re.compile("Optimize"))).to_be_visible()
    page.get_by_label("Trials per fold").fill("5")
    page.get_by_label("Walk-forward folds").fill("2")
    page.get_by_label("Min trades").fill("1")
    page.get_by_text("Keep my buy/sell conditions").click()  # bob's sell switches are all off
    page.get_by_role("button", name="Run study").click()
    wait_app_settled(page, timeout=STUDY_SECONDS * 1000)

    expect(page.get_by_text(re.compile("Verdict:"))).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    screenshot(page, "optimize-study")
    page.get_by_role("button", name="Use these settings…").click()
    wait_app_settled(page)
    expect(page.get_by_text("This replaces your strategy settings")).to_be_visible()
    with open_user_store(stack.home, "bob") as store:
        assert store.latest_settings("params") is None  # asked, not saved
    page.get_by_role("button", name="Confirm: save as my settings").click()
    wait_app_settled(page)

    expect(page.get_by_text(re.compile("saved by optimize"))).to_be_visible()
    with open_user_store(stack.home, "bob") as store:
        latest = store.latest_settings("params")
    assert latest is not None
    assert latest.saved_by == "optimize"
    screenshot(page, "optimize-saved")
