"""The Notifications page in headless Chromium: save a Telegram channel, see it masked, send a test message.

The channel is a fake Telegram Bot API server in this process; the running engine (see conftest.py)
delivers alice's test message to it, which proves the page, the outbox and the engine's sender meet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from tests.fakes.fake_telegram import TOKEN, FakeTelegram, SentMessage
from tradebot.services.notifications.config import EVENT_KINDS
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store

from .conftest import Stack, logged_in, screenshot, wait_app_settled

CHAT_ID = "424242"
DELIVERY_SECONDS = 30


@pytest.fixture
def telegram(stack: Stack) -> Iterator[FakeTelegram]:
    """A fake Bot API; afterwards alice's events are switched off (the stack outlives this server)."""
    with FakeTelegram() as server:
        yield server
    changes = NotifyChanges(events=dict.fromkeys(EVENT_KINDS, "off"))
    with open_user_store(stack.home, "alice") as store:
        save_changes(store, SecretBox.for_home(stack.home), changes, now=datetime.now(UTC), updated_by="e2e")


def wait_delivered(page: Page, telegram: FakeTelegram) -> SentMessage:
    """alice's test message as the fake Telegram received it (the engine's sender polls the outbox)."""
    for _ in range(DELIVERY_SECONDS * 4):
        found = [message for message in telegram.messages if "test message for alice" in message.text]
        if found:
            return found[0]
        page.wait_for_timeout(250)
    pytest.fail(f"no test message reached the fake Telegram within {DELIVERY_SECONDS} s")


def open_notifications(page: Page) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Notifications").click()
    wait_app_settled(page)
    expect(page.get_by_role("heading", name=re.compile("Notifications"))).to_be_visible()


def test_notifications_page_saves_masks_and_sends_test_message(
    page: Page, stack: Stack, telegram: FakeTelegram
) -> None:
    logged_in(page, "alice")
    open_notifications(page)
    page.get_by_label(re.compile(r"^Bot token")).fill(TOKEN)
    page.get_by_label("Chat id").fill(CHAT_ID)
    page.get_by_label("Bot API URL").fill(telegram.base_url)
    page.get_by_role("button", name="Save").click()
    wait_app_settled(page)

    expect(page.get_by_text("Notification settings saved")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Bot token \(stored: \*\*\*\*" + TOKEN[-4:]))).to_have_value("")
    assert TOKEN not in page.content()
    assert TOKEN.split(":")[1] not in page.content()
    screenshot(page, "notifications-saved")

    page.get_by_role("button", name="Send a test message").click()
    wait_app_settled(page)
    expect(page.get_by_text("the running engine delivers it within seconds")).to_be_visible()
    delivered = wait_delivered(page, telegram)
    assert delivered.chat_id == CHAT_ID
    page.reload()
    wait_app_settled(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Sent")).to_contain_text(re.compile(r"[1-9]"))
    assert TOKEN not in page.content()
    screenshot(page, "notifications-test-sent")

    page.get_by_role("button", name="Remove telegram").click()
    wait_app_settled(page)
    expect(page.get_by_text("Remove telegram? Its stored bot token is deleted")).to_be_visible()
    page.get_by_role("button", name="Yes, remove telegram").click()
    wait_app_settled(page)
    removed = re.compile(r"telegram removed; \d+ waiting message\(s\) dropped")
    expect(page.get_by_text(removed)).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Bot token \(stored: \(not set\)"))).to_be_visible()
    expect(page.get_by_role("button", name="Remove telegram")).to_have_count(0)
    screenshot(page, "notifications-telegram-removed")
