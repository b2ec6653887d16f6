"""A user without a channel costs the engine's side threads one small read per idle round, never a spin."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tradebot.engine.notifier import NotifierThread
from tradebot.engine.telegram_poller import IDLE_SECONDS, TelegramPoller
from tradebot.engine.user_notifications import UserDeliverer
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
PATIENCE_SECONDS = 10.0  # an upper bound for a failing test to end, never a measured duration


@pytest.fixture
def home(tmp_path: Path) -> Path:
    create_user(tmp_path, "alice", None, NOW)
    return tmp_path


class CountingDeliverer(UserDeliverer):
    rounds = 0

    def deliver_due(self) -> float:
        self.rounds += 1
        return super().deliver_due()


def test_deliverer_without_channel_waits_its_idle_time_on_the_injected_clock(home: Path) -> None:
    clock = StepClock(NOW)
    deliverer = CountingDeliverer(home, "alice", clock)
    thread = NotifierThread(deliverer, clock).start()
    patience = time.monotonic() + PATIENCE_SECONDS
    while clock.monotonic() < 60 and time.monotonic() < patience:  # the thread steps the clock
        time.sleep(0.001)
    thread.stop()
    waited = clock.monotonic()  # the injected seconds the thread waited, until it saw the stop
    assert waited >= 60
    assert deliverer.idle_seconds >= 1.0
    assert deliverer.rounds <= waited / deliverer.idle_seconds + 2  # one round per idle wait, no spin
    assert deliverer.delivery_state() is None  # nothing to show: no channel, empty outbox


def test_poller_without_telegram_waits_idle_seconds_and_asks_telegram_nothing(home: Path) -> None:
    with open_user_store(home, "alice") as store:  # a webhook only: no Telegram to poll
        changes = NotifyChanges(webhook_url="https://hooks.example/services/T000/secret0123456789")
        save_changes(store, SecretBox.for_home(home), changes, now=NOW, updated_by="test")
    poller = TelegramPoller(home, "alice", StepClock(NOW))
    try:
        assert poller.poll_once() == IDLE_SECONDS >= 1.0
    finally:
        poller.close()
