"""Protections in the backtest: both replays block the same entries, on hand-made series too."""

from __future__ import annotations

import pytest

from tradebot.backtest.replay import ReplayResult, replay, replay_stepwise
from tradebot.core.models import CandleSeries
from tradebot.core.protections import COOLDOWN, DAILY_LOSS, LOSS_STREAK

from .test_replay import BULLISH_ONLY, CASH, MINUTE_NS, PLAIN, assert_same, build, flat_then, random_walk

RISING = [(10_000 + 10 * step, 10_010 + 10 * step) for step in range(12)]  # bullish candles


def both(series: CandleSeries, **changes: object) -> ReplayResult:
    params = PLAIN.model_copy(update=changes)
    fast = replay(series, params, BULLISH_ONLY, CASH)
    assert_same(fast, replay_stepwise(series, params, BULLISH_ONLY, CASH))
    return fast


def skipped(result: ReplayResult) -> list[tuple[int, int, str, int]]:
    return [(item.first_index, item.last_index, item.reason, item.count) for item in result.skipped.records]


def test_cooldown_blocks_entries_on_the_next_bars_after_a_take_profit() -> None:
    # 35 buys at 10,100; 36 closes at 10,500 >= the 3% target and sells; 37-38 cool down; 39 buys.
    series = flat_then([(10_000, 10_100), (10_100, 10_500), *RISING])
    result = both(series, cooldown_bars=2)
    assert [(t.entry_index, t.exit_index) for t in result.trades] == [(35, 36), (39, None)]
    assert skipped(result)[0] == (37, 38, COOLDOWN, 2)


def test_loss_streak_pauses_entries_after_a_stop_loss() -> None:
    # 35 buys at 10,100; 36 closes at 9,800 <= the 2% stop: one loss, paused on 37-39; 40 buys.
    falling_then_rising = [(9_800 + 10 * step, 9_810 + 10 * step) for step in range(6)]
    series = flat_then([(10_000, 10_100), (10_100, 9_800), *falling_then_rising])
    result = both(series, max_consecutive_losses=1, loss_pause_bars=3, take_profit=0.5)
    assert [(t.entry_index, t.exit_index, t.exit_reason) for t in result.trades] == [
        (35, 36, "stop_loss"),
        (40, None, None),
    ]
    assert skipped(result) == [(37, 39, LOSS_STREAK, 3)]


def test_daily_loss_blocks_until_the_kst_day_ends_at_1500_utc() -> None:
    """Candle 35 starts 14:50 UTC (23:50 KST): a 3% stop loss of the whole 1,000,000 KRW account
    (about -30,000 KRW) crosses the 2% limit, so 37-44 (up to 14:59 UTC) are blocked and the
    candle starting 15:00 UTC, 00:00 KST of the next day, buys."""
    moves = [(10_000, 10_100), (10_100, 9_800)] + [(9_800 + 10 * n, 9_810 + 10 * n) for n in range(10)]
    series = flat_then(moves)
    shifted = CandleSeries.checked(
        series.start_ns + (14 * 60 + 15) * MINUTE_NS, series.open, series.high, series.low, series.close,
        series.volume,
    )  # fmt: skip
    result = both(shifted, max_daily_loss=0.02, take_profit=0.5)
    assert [(t.entry_index, t.exit_reason) for t in result.trades] == [(35, "stop_loss"), (45, None)]
    assert skipped(result) == [(37, 44, DAILY_LOSS, 8)]


def test_daily_loss_under_the_limit_blocks_nothing() -> None:
    moves = [(10_000, 10_100), (10_100, 9_800)] + [(9_800 + 10 * n, 9_810 + 10 * n) for n in range(4)]
    result = both(flat_then(moves), max_daily_loss=0.05, take_profit=0.5)
    assert [t.entry_index for t in result.trades] == [35, 37]
    assert skipped(result) == []


PROTECTION_SETTINGS = [
    {"cooldown_bars": 5},
    {"max_consecutive_losses": 2, "loss_pause_bars": 40},
    {"max_daily_loss": 0.003},
    {"cooldown_bars": 3, "max_consecutive_losses": 3, "loss_pause_bars": 25, "max_daily_loss": 0.002},
]


@pytest.mark.parametrize("changes", PROTECTION_SETTINGS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_replay_with_protections_equals_stepwise_and_blocks_entries(
    changes: dict[str, object], seed: int
) -> None:
    tight = {"take_profit": 0.01, "stop_loss": 0.005, "trailing_stop": 0.004} | changes
    params, conditions = build(tight, {})
    # A minute series of 6,000 candles spans five KST days (the daily loss needs some).
    series = random_walk(seed, count=6000)
    fast = replay(series, params, conditions, CASH)
    assert_same(fast, replay_stepwise(series, params, conditions, CASH))
    blocked = [item for item in fast.skipped.records if item.reason.startswith("protection:")]
    assert blocked  # the series must exercise the protection, or the equality proves little
    unprotected = replay(series, build(tight | dict.fromkeys(changes, 0), {})[0], conditions, CASH)
    assert len(unprotected.trades) > len(fast.trades)


def test_stepwise_records_no_protection_during_warmup() -> None:
    series = flat_then([(10_000, 10_100), (10_100, 10_500), *RISING], warmup=35)
    result = both(series, cooldown_bars=100)
    assert all(item.first_index > 36 for item in result.skipped.records)
