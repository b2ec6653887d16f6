"""The notifier's own thread: a hanging or timing-out channel never holds up the trading side."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes.fake_telegram import TOKEN, FakeTelegram, Hold
from tests.fakes.memory_outbox import MemoryOutbox
from tradebot.core.clock import SystemClock
from tradebot.engine.notifier import Notifier, NotifierThread
from tradebot.services.notifications.channels import TelegramChannel
from tradebot.services.notifications.delivery_health import NotifierHealth

PATIENCE_SECONDS = 10.0  # an upper bound for a failing test to end, never a measured duration


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def started_thread(
    server: FakeTelegram, client: httpx.Client, timeout: float
) -> tuple[NotifierThread, MemoryOutbox]:
    outbox = MemoryOutbox()
    outbox.add("ALERT: position open and its price exits are NOT running", datetime.now(UTC), kind="alert")
    channel = TelegramChannel(
        token=TOKEN, chat_id="42", client=client, api_url=server.base_url, timeout_seconds=timeout
    )
    clock = SystemClock()
    return NotifierThread(Notifier(outbox, [channel], clock), clock).start(), outbox


def wait_for_health(thread: NotifierThread, condition: str) -> NotifierHealth:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        health = thread.health()
        if condition == "failing" and health.channels[0].failing:
            return health
        if condition == "empty" and health.checked_at is not None and health.backlog == 0:
            return health
        time.sleep(0.01)
    raise AssertionError(f"the notifier never became {condition}")


def test_thread_channel_hanging_wake_and_health_return_at_once(client: httpx.Client) -> None:
    with FakeTelegram() as telegram:
        telegram.script(Hold())
        thread, outbox = started_thread(telegram, client, timeout=PATIENCE_SECONDS * 3)
        assert telegram.holding.wait(PATIENCE_SECONDS)
        caller = threading.Thread(target=lambda: (thread.wake(), thread.health()))

        caller.start()
        caller.join(PATIENCE_SECONDS)

        assert not caller.is_alive()  # the trading side returned ...
        assert not telegram.released.is_set()  # ... while the send was still hanging
        assert telegram.messages == []
        telegram.released.set()
        wait_for_health(thread, "empty")
        thread.stop()
    assert telegram.texts() == ["ALERT: position open and its price exits are NOT running"]
    assert outbox.status(1) == "sent"


def test_thread_channel_timing_out_reported_in_health(client: httpx.Client) -> None:
    with FakeTelegram() as telegram:
        telegram.script(Hold())
        thread, outbox = started_thread(telegram, client, timeout=0.2)

        health = wait_for_health(thread, "failing")

        thread.stop()
    assert health.channels[0].last_error is not None
    assert health.channels[0].last_error.startswith("telegram timeout")
    assert outbox.rows[1].attempts == 1
    assert outbox.status(1) == "pending"
