"""Login sessions in headless Chromium: a saved cookie stops working at logout; forged cookies open nothing.

A "fresh browser" is a new browser context (no cookies, no storage) given only the saved cookie, as
an attacker who copied it would use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from playwright.sync_api import Browser, Page, expect

from tradebot.services.credentials import remove_credential
from tradebot.services.user_admin import create_user
from tradebot.services.web_sessions import SessionStore

from .conftest import COOKIE, TRACK_SCRIPT_STATE, Stack, logged_in, screenshot, wait_app_settled

ACCOUNT_TITLE = "🔑 Account & Mode"


@contextmanager
def fresh_page(browser: Browser, stack: Stack, cookies: list[dict[str, Any]]) -> Iterator[Page]:
    """A page in a new browser context holding only `cookies`."""
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    try:
        context.add_init_script(TRACK_SCRIPT_STATE)
        context.set_default_timeout(30_000)
        context.add_cookies(cookies)  # type: ignore[arg-type]  # Playwright's SetCookieParam TypedDict
        yield context.new_page()
    finally:
        context.close()


def open_account(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.url}/account")
    wait_app_settled(page)


def expect_login_page(page: Page) -> None:
    """The login form, no logged-in navigation, no traceback."""
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=20_000)
    assert page.get_by_test_id("stSidebarNav").get_by_role("link", name="Account & Mode").count() == 0
    assert page.get_by_text(ACCOUNT_TITLE).count() == 0
    assert page.get_by_test_id("stException").count() == 0
    assert "Traceback" not in page.content()


def login_cookie(stack: Stack, value: str) -> dict[str, Any]:
    return {"name": COOKIE, "value": value, "url": stack.url}


def test_saved_cookie_opens_account_before_logout_and_login_page_after(
    page: Page, browser: Browser, stack: Stack
) -> None:
    logged_in(page, "alice")
    saved = [cookie for cookie in page.context.cookies() if cookie["name"] == COOKIE]
    assert len(saved) == 1
    assert saved[0]["sameSite"] == "Strict"
    with fresh_page(browser, stack, saved) as copy:  # the saved cookie works while logged in
        open_account(copy, stack)
        expect(copy.get_by_text(ACCOUNT_TITLE)).to_be_visible(timeout=20_000)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Logout").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible(timeout=20_000)
    page.wait_for_function(f"() => !document.cookie.includes('{COOKIE}=')", timeout=20_000)

    with fresh_page(browser, stack, saved) as copy:
        open_account(copy, stack)
        expect_login_page(copy)
        screenshot(copy, "11-saved-cookie-after-logout")


def _old_scheme_token(algorithm: str, key: str | None) -> str:
    """A login cookie as streamlit-authenticator signed it (username + expiry)."""
    claims = {"username": "alice", "exp_date": datetime.now(UTC).timestamp() + 86_400}
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    "forge",
    ["alg_none", "hs512", "old_scheme_hs256", "garbage", "removed_user_session"],
)
def test_forged_or_stale_cookie_shows_login_page_never_traceback(
    browser: Browser, stack: Stack, forge: str
) -> None:
    key = "e2e-cookie-key-" + "k" * 40
    values = {
        "alg_none": lambda: _old_scheme_token("none", None),
        "hs512": lambda: _old_scheme_token("HS512", key * 2),
        "old_scheme_hs256": lambda: _old_scheme_token("HS256", key),
        "garbage": lambda: "garbage%00<b>" + "x" * 3000,
        "removed_user_session": lambda: _removed_user_session(stack),
    }
    with fresh_page(browser, stack, [login_cookie(stack, values[forge]())]) as page:
        open_account(page, stack)
        expect_login_page(page)


def _removed_user_session(stack: Stack) -> str:
    """A live session of a user whose login was removed afterwards."""
    create_user(stack.home, "carol", "carol-e2e-password", datetime.now(UTC))
    token = SessionStore(stack.home).create("carol")
    remove_credential(stack.home, "carol")
    return token


def test_open_dashboard_shows_login_by_itself_when_password_changes(page: Page, stack: Stack) -> None:
    logged_in(page, "bob")
    expect(page.get_by_text("📈 Dashboard")).to_be_visible()
    SessionStore(stack.home).revoke_user("bob")  # what `tradebot user password bob` does
    # no click: the Dashboard's own 5-second refresh notices the ended session
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=20_000)
    assert page.get_by_text("📈 Dashboard").count() == 0


def test_account_page_after_password_change_shows_login(page: Page, stack: Stack) -> None:
    logged_in(page, "bob")
    SessionStore(stack.home).revoke_user("bob")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Account & Mode").click()
    wait_app_settled(page)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=20_000)
    assert page.get_by_text(ACCOUNT_TITLE).count() == 0
