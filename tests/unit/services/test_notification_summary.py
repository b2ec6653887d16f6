"""The daily summary: its text, and queued once per KST day at the user's time (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tests.fakes.fake_telegram import TOKEN, FakeTelegram
from tradebot.core.params import StrategyParams
from tradebot.engine.user_notifications import UserDeliverer
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.notifications.summary import queue_daily_summary, summary_text
from tradebot.services.records import AccountBalance, Position, TradeAudit
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store

# 2026-03-22 08:50 KST, ten minutes before a 09:00 summary.
START = datetime(2026, 3, 21, 23, 50, tzinfo=UTC)
SUMMARY_TIME = "09:00"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tradebot_alice.db")


def configure(home: Path, store: Store, api_url: str | None = None, **events: str) -> None:
    changes = NotifyChanges(
        telegram_token=TOKEN, telegram_chat_id="4242", telegram_api_url=api_url,
        daily_summary=SUMMARY_TIME, events=events,
    )  # fmt: skip
    save_changes(store, SecretBox.for_home(home), changes, now=START, updated_by="test")


def audit(side: str, at: datetime, profit: str | None = None) -> TradeAudit:
    return TradeAudit(
        mode="TEST", market="KRW-BTC", side=side, fill_price=Decimal("50000000"),  # type: ignore[arg-type]
        volume=Decimal("0.001"), fee=Decimal("25"), params_version=1, conditions_version=1,
        cause="manual", executed_at=at, rule="take_profit" if side == "ask" else "macd_cross",
        realised_profit=None if profit is None else Decimal(profit),
    )  # fmt: skip


def record_day(store: Store) -> None:
    with store.transaction() as transaction:
        transaction.record_settings(StrategyParams(), saved_at=START, saved_by="test")
        transaction.set_account(AccountBalance(mode="TEST", krw_balance=Decimal("990000"), updated_at=START))
        transaction.append_trade_audit(audit("bid", START - timedelta(days=2)))  # before the period
        transaction.append_trade_audit(audit("bid", START - timedelta(hours=5)))
        transaction.append_trade_audit(audit("ask", START - timedelta(hours=4), "1500"))
        transaction.append_trade_audit(audit("ask", START - timedelta(hours=3), "-500"))
        transaction.set_position(
            Position(
                mode="TEST", market="KRW-ETH", volume=Decimal("0.5"), entry_price=Decimal("4000000"),
                peak_price=None, entry_candle_start=None, bars_held=2, updated_at=START,
            )
        )  # fmt: skip


def summaries(store: Store, now: datetime) -> list[str]:
    return [item.text for item in due(store, now + timedelta(days=2), 100) if item.kind == "daily_summary"]


def test_summary_text_of_day_with_trades_shows_counts_win_rate_profit_equity_positions(store: Store) -> None:
    record_day(store)
    end = datetime(2026, 3, 22, 0, 0, tzinfo=UTC)
    text = summary_text(store, "alice", end)
    assert text.splitlines()[0] == "alice: daily summary 2026-03-21 09:00 to 2026-03-22 09:00 KST"
    assert (
        "[TEST] trades: 1 buy(s), 2 sell(s); win rate 50.00% (1 of 2 closed); realised profit +1,000 KRW"
        in text
    )
    # 990,000 cash + 0.5 ETH at its entry price (no candle cached)
    assert "[TEST] equity: 2,990,000 KRW (cash 990,000 KRW)" in text
    assert "[TEST] open position: KRW-ETH 0.5 entered at 4,000,000 KRW, now 4,000,000 KRW" in text
    assert "[LIVE]" not in text


def test_summary_text_of_new_user_says_nothing_yet(store: Store) -> None:
    text = summary_text(store, "alice", START)
    assert text.endswith("no account, trade or position yet")


def test_queue_daily_summary_across_kst_midnight_once_per_day(tmp_path: Path, store: Store) -> None:
    configure(tmp_path, store)
    clock = StepClock(START)
    queued = []
    for _ in range(48 * 6):  # two days in 10-minute rounds
        with store.transaction() as transaction:
            queued.append((clock.now(), queue_daily_summary(transaction, "alice", SUMMARY_TIME, clock.now())))
        clock.advance(timedelta(minutes=10))
    moments = [moment for moment, row in queued if row is not None]
    assert moments == [datetime(2026, 3, 22, 0, 0, tzinfo=UTC), datetime(2026, 3, 23, 0, 0, tzinfo=UTC)]
    assert len(summaries(store, clock.now())) == 2


def test_queue_daily_summary_after_restart_is_not_written_twice(tmp_path: Path, store: Store) -> None:
    configure(tmp_path, store)
    late = datetime(2026, 3, 22, 5, 0, tzinfo=UTC)  # 14:00 KST: the first round today is late
    with store.transaction() as transaction:
        assert queue_daily_summary(transaction, "alice", SUMMARY_TIME, late) is not None
    store.close()
    with open_user_store(tmp_path, "alice") as reopened, reopened.transaction() as transaction:
        assert queue_daily_summary(transaction, "alice", SUMMARY_TIME, late + timedelta(hours=1)) is None


def test_queue_daily_summary_switched_off_writes_nothing(tmp_path: Path, store: Store) -> None:
    configure(tmp_path, store, daily_summary="off")
    moment = datetime(2026, 3, 22, 1, 0, tzinfo=UTC)
    with store.transaction() as transaction:
        assert queue_daily_summary(transaction, "alice", SUMMARY_TIME, moment) is None
    assert summaries(store, moment) == []


def test_deliverer_sends_summary_once_at_kst_time_across_rounds(tmp_path: Path) -> None:
    with FakeTelegram() as telegram:
        with open_user_store(tmp_path, "alice", create=True) as store:
            configure(tmp_path, store, api_url=telegram.base_url)
            record_day(store)
        clock = StepClock(START)
        deliverer = UserDeliverer(tmp_path, "alice", clock)
        try:
            for _ in range(40):  # 08:50 to 15:30 KST, ten minutes a round
                deliverer.deliver_due()
                clock.advance(timedelta(minutes=10))
        finally:
            deliverer.close()
        [text] = telegram.texts()
    assert text.startswith("alice: daily summary 2026-03-21 09:00 to 2026-03-22 09:00 KST")
    assert "win rate 50.00%" in text
