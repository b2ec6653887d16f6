"""Fills of a live loop reach the user's Telegram chat through the engine's deliverer (issue 14).

The loop trades TEST against the simulator; the messages its fills wrote into the outbox (in the
fill's own transaction) are delivered by `UserDeliverer` — the object the engine's notifier thread
runs for each user — to a fake Telegram Bot API server. Each message arrives once, in order; a
channel that is down loses nothing and is named in the delivery health.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.fake_telegram import TOKEN, FakeTelegram
from tradebot.engine.user_notifications import UserDeliverer
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.notifications.outbox import counts, due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store

from .conftest import Simulator
from .test_live_loop import USER, exchange, prepare_user, run_cycles, start_loop

__all__ = ["exchange"]  # the fixture this module uses
CHAT = "4242"


def _configure(home: Path, telegram: FakeTelegram) -> None:
    changes = NotifyChanges(
        telegram_token=TOKEN,
        telegram_chat_id=CHAT,
        telegram_api_url=telegram.base_url,
        events={"engine": "off"},
    )
    with open_user_store(home, USER) as store:
        save_changes(store, SecretBox.for_home(home), changes, now=datetime.now(UTC), updated_by="test")


class PacedClock:
    """The simulator's time; monotonic seconds move 1.5 s per reading, so channel pacing never waits."""

    def __init__(self, inner: SimulatedTimeClock) -> None:
        self._inner, self._seconds = inner, 0.0

    def now(self) -> datetime:
        return self._inner.now()

    def monotonic(self) -> float:
        self._seconds += 1.5
        return self._seconds

    def sleep(self, seconds: float) -> None:
        self._seconds += seconds


def _deliver_all(deliverer: UserDeliverer, rounds: int = 200) -> None:
    for _ in range(rounds):  # the clock is the simulator's (stopped): pacing is by the channel's interval
        deliverer.deliver_due()


def test_fills_are_delivered_to_telegram_once_each_in_order(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    with FakeTelegram() as telegram:
        _configure(tmp_path, telegram)
        loop = start_loop(exchange, tmp_path, "TEST", resources)
        run_cycles(exchange, loop, 120)
        deliverer = UserDeliverer(tmp_path, USER, PacedClock(SimulatedTimeClock(exchange.server)))
        try:
            _deliver_all(deliverer)
            _deliver_all(deliverer, rounds=5)  # nothing is sent twice
            health = deliverer.health()
        finally:
            deliverer.close()
        with open_user_store(tmp_path, USER) as store:
            audits = store.trade_audits()
            left = counts(store)
        texts = telegram.texts()
        assert {message.chat_id for message in telegram.messages} == {CHAT}
    assert len(audits) >= 2
    assert len(texts) == len(audits)  # one message per fill, none twice
    for audit, text in zip(audits, texts, strict=True):
        assert text.startswith(f"[TEST] KRW-BTC {'buy' if audit.side == 'bid' else 'sell'} filled: ")
    assert left.get("pending", 0) == 0
    assert health.problems() == []


def test_channel_down_keeps_messages_and_says_so_then_delivers(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    with FakeTelegram() as telegram:
        _configure(tmp_path, telegram)
        loop = start_loop(exchange, tmp_path, "TEST", resources)
        run_cycles(exchange, loop, 120)
        deliverer = UserDeliverer(tmp_path, USER, PacedClock(SimulatedTimeClock(exchange.server)))
        try:
            telegram.outage = True
            _deliver_all(deliverer, rounds=3)
            down = deliverer.health()
            telegram.outage = False
            exchange.step(3600)  # the retry backoff (5 s, doubling) has passed on the exchange's clock
            _deliver_all(deliverer)
        finally:
            deliverer.close()
        with open_user_store(tmp_path, USER) as store:
            audits = store.trade_audits()
            pending = due(store, datetime.now(UTC) + timedelta(days=3650), limit=1000)
        delivered = telegram.texts()
    assert down.problems(), "a failing channel is named in the delivery health"
    assert TOKEN not in " ".join(down.problems())  # never the secret
    assert len(delivered) == len(audits)  # the outage lost nothing
    assert pending == []
