"""The dashboard in Korean for a Korean browser, and a user's language choice taking effect at once.

A browser context with `locale="ko-KR"` sends `Accept-Language: ko-KR`; before login the dashboard
follows it. After login the user's stored choice wins; switching it on Account & Mode redraws the
page in the new language without logging out, and a reload keeps it. No page may show a raw
catalogue key instead of words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tradebot.core.i18n import catalogue

from .conftest import PASSWORDS, TRACK_SCRIPT_STATE, Stack, screenshot, wait_app_settled

HANGUL = re.compile(r"[\uac00-\ud7a3]")
KEYS = frozenset(key for key in catalogue("en") if "." in key)


@pytest.fixture
def korean_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """A page of a fresh browser whose preferred language is Korean."""
    context = browser.new_context(viewport={"width": 1400, "height": 2000}, locale="ko-KR")
    context.add_init_script(TRACK_SCRIPT_STATE)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shows_no_raw_key(page: Page) -> None:
    shown = page.locator('[data-testid="stApp"]').inner_text()
    assert [key for key in KEYS if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", shown)] == []
    assert page.get_by_test_id("stException").count() == 0


def test_language_korean_browser_gets_korean_login_then_english_choice_sticks(
    korean_page: Page, stack: Stack
) -> None:
    page = korean_page
    page.goto(stack.url)
    wait_app_settled(page)
    expect(page.get_by_role("textbox", name="아이디")).to_be_visible()
    assert HANGUL.search(page.locator('[data-testid="stApp"]').inner_text())
    shows_no_raw_key(page)
    screenshot(page, "language-login-ko")
    page.get_by_role("textbox", name="아이디").fill("bob")
    page.get_by_role("textbox", name="비밀번호").fill(PASSWORDS["bob"])
    page.get_by_role("button", name="로그인").click()
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="대시보드")).to_be_visible(timeout=30_000)
    wait_app_settled(page)
    nav.get_by_role("link", name="계정 및 모드").click()
    wait_app_settled(page)
    shows_no_raw_key(page)
    screenshot(page, "language-account-ko")
    page.get_by_test_id("stSelectbox").filter(has_text="언어").click()
    page.get_by_role("option", name="English").click()
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible(timeout=30_000)
    wait_app_settled(page)
    page.reload()
    wait_app_settled(page)
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Account & Mode")).to_be_visible()
    shows_no_raw_key(page)
