"""The dashboard in headless Chromium against the running engine and simulator (see conftest.py).

One journey as alice: log in, watch the dashboard follow closing candles, force a buy and see the
position, change a parameter and see the engine apply it (new evaluation rows carry the new
settings version), find the buy in the Audit Viewer's CSV, log out. Then the refusals: a wrong
password, and bob, logged in, cannot reach alice's data through URL parameters.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from contextlib import closing

from playwright.sync_api import Page, expect

from tradebot.services.paths import database_path

from .conftest import COOKIE, Stack, log_in, logged_in, screenshot, wait_app_settled

SIGNAL = re.compile(r"evaluation of the candle starting")


def _nav(page: Page, name: str) -> None:
    wait_app_settled(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
    wait_app_settled(page)


def _download_csv(page: Page, tab: str) -> list[dict[str, str]]:
    page.get_by_role("tab", name=tab).click()
    panel = page.get_by_role("tabpanel", name=tab)
    button = panel.get_by_role("button", name=re.compile(r"Download CSV"))
    expect(button).to_be_enabled(timeout=20_000)
    with page.expect_download() as download:
        button.click()
    text = download.value.path().read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _database_rows(stack: Stack, user: str, sql: str) -> list[tuple[object, ...]]:
    uri = f"file:{database_path(stack.home, user)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
        return connection.execute(sql).fetchall()


def _force_buy(page: Page) -> None:
    page.get_by_text("Force buy / force sell").click()  # the expander
    form = page.get_by_test_id("stForm").filter(has_text="Force buy")
    form.get_by_role("textbox").fill("e2e: buying by hand")
    form.get_by_text("I confirm: buy now").click()
    wait_app_settled(page)
    form.get_by_role("button", name="Force buy").click()
    expect(page.get_by_text(re.compile(r"Sent force buy \(command #\d+\)"))).to_be_visible(timeout=20_000)


def _change_take_profit(page: Page) -> int:
    field = page.get_by_role("spinbutton", name="take_profit")
    field.fill("0.123")
    field.press("Tab")
    wait_app_settled(page)
    page.get_by_role("button", name="Save").click()
    saved = page.get_by_text(re.compile(r"Saved as params version \d+"))
    expect(saved).to_be_visible(timeout=20_000)
    match = re.search(r"params version (\d+)", saved.inner_text())
    assert match is not None
    return int(match.group(1))


def test_journey_login_watch_force_buy_tune_audit_logout(page: Page, stack: Stack) -> None:
    logged_in(page, "alice")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible(timeout=30_000)
    signal = page.get_by_text(SIGNAL)
    expect(signal).to_be_visible(timeout=30_000)
    first = signal.inner_text()
    expect(signal).not_to_have_text(first, timeout=30_000)  # a newer candle closed and was evaluated
    screenshot(page, "01-dashboard")

    _force_buy(page)
    entry = page.get_by_test_id("stMetric").filter(has_text="Entry price")
    expect(entry.get_by_test_id("stMetricValue")).to_have_text(re.compile(r"\d"), timeout=30_000)
    screenshot(page, "02-dashboard-position")
    audits = _database_rows(stack, "alice", "SELECT side, cause, note FROM trade_audit")
    assert audits == [("bid", "force", "e2e: buying by hand")]

    _nav(page, "Set Config")
    version = _change_take_profit(page)
    screenshot(page, "03-set-config")
    _nav(page, "Set Buy/Sell Conditions")
    screenshot(page, "04-set-conditions")

    _nav(page, "Audit Viewer")
    sells: list[dict[str, str]] = []
    for _attempt in range(20):  # the engine applies the change at the next closed candle
        sells = _download_csv(page, "Sell evaluations (sell_eval)")
        if any(row.get("params version") == str(version) for row in sells):
            break
        page.wait_for_timeout(1_000)
    assert any(row.get("params version") == str(version) for row in sells), sells[-3:]
    trades = _download_csv(page, "Trades (trade_audit)")
    assert [(row["side"], row["cause"]) for row in trades] == [("buy", "force")]
    assert _download_csv(page, "Buy evaluations (buy_eval)")
    screenshot(page, "05-audit-viewer")

    _nav(page, "Health")
    expect(page.get_by_text(re.compile(r"running", re.IGNORECASE)).first).to_be_visible()
    screenshot(page, "06-health")
    _nav(page, "Account & Mode")
    screenshot(page, "07-account")

    _nav(page, "Logout")
    expect(page.get_by_text("You are logged out.")).to_be_visible(timeout=20_000)
    page.wait_for_function(f"() => !document.cookie.includes('{COOKIE}=')", timeout=20_000)
    page.goto("/dashboard")
    wait_app_settled(page)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible(timeout=20_000)
    screenshot(page, "08-logged-out")


def test_wrong_password_refused(page: Page, stack: Stack) -> None:
    log_in(page, "alice", "not-the-password")
    alert = page.get_by_test_id("stAlert").filter(has_text="Username/password is incorrect")
    expect(alert).to_be_visible(timeout=20_000)
    assert page.get_by_test_id("stSidebarNav").get_by_role("link", name="Dashboard").count() == 0
    assert COOKIE not in page.evaluate("() => document.cookie")
    screenshot(page, "09-wrong-password")


def test_other_users_data_refused(page: Page, stack: Stack) -> None:
    logged_in(page, "bob")
    for url in ("/dashboard?user=alice", "/dashboard?username=alice", "/audit?user=alice"):
        page.goto(url)
        wait_app_settled(page)
        expect(page.get_by_test_id("stSidebar").get_by_text("👤 bob")).to_be_visible(timeout=20_000)
        assert page.get_by_text("e2e: buying by hand").count() == 0
    page.goto("/dashboard?user=alice")
    wait_app_settled(page)
    expect(page.get_by_text("The engine has never run for you yet")).to_be_visible(timeout=20_000)
    screenshot(page, "10-other-user")
