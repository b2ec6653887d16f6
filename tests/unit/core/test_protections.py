"""Protections (TRADING_RULES.md v2): hand-computed cases for each rule and the KST day boundary."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tradebot.core.indicators import IndicatorRow
from tradebot.core.models import Interval
from tradebot.core.params import BuyConditions, Conditions, StrategyParams
from tradebot.core.protections import (
    COOLDOWN,
    DAILY_LOSS,
    LOSS_STREAK,
    ActiveProtection,
    ClosedTrade,
    active_protections,
    any_enabled,
    kst_day,
    kst_day_end,
    kst_day_number,
    newly_started,
)
from tradebot.core.strategy import Action, IndicatorWindow, PositionView, decide

BASE = datetime(2025, 6, 2, 0, 0, tzinfo=UTC)  # 09:00 KST
MINUTE = timedelta(minutes=1)
EQUITY = Decimal(1_000_000)


def params(**changes: object) -> StrategyParams:
    return StrategyParams(interval=Interval.MINUTE1, warmup_bars=35, **changes)  # type: ignore[arg-type]


def trade(exit_index: int, profit: int | str, start: datetime | None = None) -> ClosedTrade:
    return ClosedTrade(exit_index, start or BASE + exit_index * MINUTE, Decimal(profit))


def codes_at(
    trades: list[ClosedTrade], index: int, settings: StrategyParams, start: datetime | None = None
) -> list[str]:
    found = active_protections(trades, index, start or BASE + index * MINUTE, settings, lambda: EQUITY)
    return [protection.code for protection in found]


def test_protections_all_off_by_default_never_block() -> None:
    settings = StrategyParams()
    assert not any_enabled(settings)
    losses = [trade(index, -100_000) for index in range(10)]
    assert codes_at(losses, 11, settings) == []


def test_cooldown_blocks_the_next_bars_only() -> None:
    settings = params(cooldown_bars=3)
    trades = [trade(10, 500)]
    assert [codes_at(trades, index, settings) for index in range(10, 15)] == [
        [], [COOLDOWN], [COOLDOWN], [COOLDOWN], [],
    ]  # fmt: skip


def test_cooldown_dust_close_counts_like_any_exit() -> None:
    settings = params(cooldown_bars=2)
    dust = trade(20, "-4200.5")  # a dust write-off: profit = value at exit - entry funds - entry fee
    assert codes_at([dust], 21, settings) == [COOLDOWN]
    assert codes_at([dust], 22, settings) == [COOLDOWN]
    assert codes_at([dust], 23, settings) == []


def test_cooldown_until_is_the_start_of_the_last_blocked_candle() -> None:
    settings = params(cooldown_bars=3)
    (found,) = active_protections([trade(10, 1)], 11, BASE + 11 * MINUTE, settings, lambda: EQUITY)
    assert found == ActiveProtection(COOLDOWN, 10, 13, BASE + 13 * MINUTE)
    assert newly_started((found,), 11) == (found,)
    assert newly_started((found,), 12) == ()


def test_loss_streak_reached_pauses_then_count_restarts_from_zero() -> None:
    settings = params(max_consecutive_losses=2, loss_pause_bars=5)
    trades = [trade(10, -1), trade(20, -1)]  # 2 losses in a row: paused on 21..25
    assert codes_at(trades, 20, settings) == []
    assert codes_at(trades, 21, settings) == [LOSS_STREAK]
    assert codes_at(trades, 25, settings) == [LOSS_STREAK]
    assert codes_at(trades, 26, settings) == []
    # The count restarted at 0 after the pause began: one more loss is 1 in a row, not 3.
    assert codes_at([*trades, trade(30, -1)], 31, settings) == []
    assert codes_at([*trades, trade(30, -1), trade(40, -1)], 41, settings) == [LOSS_STREAK]


def test_loss_streak_profit_zero_or_more_resets_the_count() -> None:
    settings = params(max_consecutive_losses=2, loss_pause_bars=5)
    assert codes_at([trade(10, -1), trade(20, 0), trade(30, -1)], 31, settings) == []
    assert codes_at([trade(10, -1), trade(20, 5), trade(30, -1)], 31, settings) == []
    assert codes_at([trade(10, -1), trade(20, 0), trade(30, -1), trade(40, -1)], 41, settings) == [
        LOSS_STREAK
    ]


def test_loss_streak_trade_on_the_evaluated_candle_not_counted_yet() -> None:
    settings = params(max_consecutive_losses=1, loss_pause_bars=2)
    assert codes_at([trade(10, -1)], 10, settings) == []
    assert codes_at([trade(10, -1)], 11, settings) == [LOSS_STREAK]


def test_daily_loss_sum_reaching_the_limit_blocks_the_rest_of_the_kst_day() -> None:
    settings = params(max_daily_loss=0.01)  # 1% of 1,000,000 = 10,000 KRW
    trades = [trade(10, -6_000), trade(20, 2_000), trade(30, -6_000)]  # sums -6,000, -4,000, -10,000
    assert codes_at(trades[:2], 21, settings) == []
    assert codes_at(trades, 30, settings) == []
    assert codes_at(trades, 31, settings) == [DAILY_LOSS]
    (found,) = active_protections(trades, 31, BASE + 31 * MINUTE, settings, lambda: EQUITY)
    # BASE is 2025-06-02 09:00 KST; the KST day ends at 2025-06-03 00:00 KST = 06-02 15:00 UTC.
    assert found == ActiveProtection(DAILY_LOSS, 30, None, datetime(2025, 6, 2, 15, 0, tzinfo=UTC))


def test_daily_loss_just_above_the_limit_does_not_block() -> None:
    settings = params(max_daily_loss=0.01)
    assert codes_at([trade(10, "-9999.99")], 11, settings) == []


def test_daily_loss_new_kst_day_starts_from_zero_at_1500_utc() -> None:
    """A candle starting 14:59 UTC is still 23:59 KST of the loss day; one starting 15:00 UTC is
    00:00 KST of the next day, whose sum of closed trades is 0."""
    settings = params(max_daily_loss=0.01)
    loss = trade(0, -20_000, datetime(2025, 6, 2, 14, 30, tzinfo=UTC))
    last_minute = datetime(2025, 6, 2, 14, 59, tzinfo=UTC)
    next_day = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
    assert codes_at([loss], 29, settings, last_minute) == [DAILY_LOSS]
    assert codes_at([loss], 30, settings, next_day) == []


def test_daily_loss_threshold_uses_the_day_start_equity() -> None:
    settings = params(max_daily_loss=0.05)
    losses = [trade(10, -40_000)]
    start = BASE + 11 * MINUTE
    assert active_protections(losses, 11, start, settings, lambda: Decimal(1_000_000)) == ()
    found = active_protections(losses, 11, start, settings, lambda: Decimal(800_000))  # limit 40,000
    assert [item.code for item in found] == [DAILY_LOSS]


def test_daily_loss_day_start_equity_asked_only_when_there_is_a_loss_today() -> None:
    settings = params(max_daily_loss=0.05)

    def never() -> Decimal:
        raise AssertionError("day start equity must not be computed")

    assert active_protections([trade(10, 300)], 11, BASE + 11 * MINUTE, settings, never) == ()
    assert active_protections([], 11, BASE + 11 * MINUTE, settings, never) == ()


def test_protections_several_active_listed_in_spec_order() -> None:
    settings = params(cooldown_bars=2, max_consecutive_losses=1, loss_pause_bars=4, max_daily_loss=0.001)
    assert codes_at([trade(10, -5_000)], 11, settings) == [COOLDOWN, LOSS_STREAK, DAILY_LOSS]
    assert codes_at([trade(10, -5_000)], 13, settings) == [LOSS_STREAK, DAILY_LOSS]
    assert codes_at([trade(10, -5_000)], 15, settings) == [DAILY_LOSS]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2025, 6, 2, 14, 59, tzinfo=UTC), date(2025, 6, 2)),
        (datetime(2025, 6, 2, 15, 0, tzinfo=UTC), date(2025, 6, 3)),
        (datetime(2025, 12, 31, 15, 0, tzinfo=UTC), date(2026, 1, 1)),
    ],
)
def test_kst_day_of_a_candle_start_is_utc_plus_nine(moment: datetime, expected: date) -> None:
    assert kst_day(moment) == expected
    assert kst_day_end(expected) == datetime(expected.year, expected.month, expected.day, 15, tzinfo=UTC)
    seconds = int(moment.timestamp())
    assert kst_day_number(seconds) == kst_day_number(seconds - 1) + (moment.hour == 15)


def test_describe_names_the_code_and_the_kst_time() -> None:
    cooldown = ActiveProtection(COOLDOWN, 10, 13, datetime(2025, 6, 2, 1, 5, tzinfo=UTC))
    daily = ActiveProtection(DAILY_LOSS, 10, None, datetime(2025, 6, 2, 15, 0, tzinfo=UTC))
    assert cooldown.describe() == "protection:cooldown: no entry through the candle of 2025-06-02 10:05 KST"
    assert (
        daily.describe() == "protection:daily_loss: no entry until 2025-06-03 00:00 KST (end of the KST day)"
    )


# --- the decision path: entries blocked, exits never -------------------------------------------

COOLING = (ActiveProtection(COOLDOWN, 10, 13, BASE + 13 * MINUTE),)


def bullish_window() -> IndicatorWindow:
    rows = IndicatorWindow()
    rows.push(IndicatorRow(100.0, 99.0, 0.0, 0.0, 0.0, math.nan, math.nan))
    return rows


BULLISH = Conditions(buy=BuyConditions(golden_cross=False, bullish_candle=True))


def test_decide_entry_signal_with_an_active_protection_holds_and_names_it() -> None:
    settings = params()
    assert decide(bullish_window(), 100, None, settings, BULLISH).action is Action.BUY
    decision = decide(bullish_window(), 100, None, settings, BULLISH, COOLING)
    assert decision.action is Action.HOLD
    assert decision.reason == COOLING[0].describe()
    assert decision.reason.startswith("protection:cooldown")
    assert decision.conditions["bullish_candle"].passed  # the conditions are still recorded


def test_decide_no_signal_keeps_its_own_reason_under_a_protection() -> None:
    bearish = IndicatorWindow()
    bearish.push(IndicatorRow(99.0, 100.0, 0.0, 0.0, 0.0, math.nan, math.nan))
    decision = decide(bearish, 100, None, params(), BULLISH, COOLING)
    assert decision.reason == "no entry: bullish_candle failed"


def test_decide_exit_never_blocked_by_a_protection() -> None:
    held = PositionView(Decimal(110), Decimal(110), 3)  # close 100 is under the 2% stop loss
    decision = decide(bullish_window(), 100, held, params(), BULLISH, COOLING)
    assert (decision.action, decision.trigger) == (Action.SELL, "stop_loss")
