"""The backtest replay: the fast path equals the live decision code candle by candle, and
hand-made series give the trades TRADING_RULES.md prescribes."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradebot.backtest.replay import ReplayResult, replay, replay_stepwise
from tradebot.core.models import CandleSeries, FloatArray
from tradebot.core.params import BUY_CONDITION_KEYS, BuyConditions, Conditions, SellConditions, StrategyParams

MINUTE_NS = 60_000_000_000
CASH = Decimal(1_000_000)


def series_from_closes(closes: FloatArray, opens: FloatArray | None = None) -> CandleSeries:
    opens = np.concatenate([[closes[0]], closes[:-1]]) if opens is None else opens
    return CandleSeries.checked(
        np.arange(closes.shape[0], dtype=np.int64) * MINUTE_NS,
        opens,
        np.maximum(opens, closes),
        np.minimum(opens, closes),
        closes,
        np.ones(closes.shape[0]),
    )


def random_walk(seed: int, count: int = 2500, sigma: float = 0.006) -> CandleSeries:
    generator = np.random.default_rng(seed)
    closes = np.round(20_000 * np.exp(np.cumsum(generator.normal(0, sigma, count))))
    closes[300:340] = closes[300]  # a flat stretch: exact ties between MACD and signal
    return series_from_closes(closes)


def assert_same(fast: ReplayResult, stepwise: ReplayResult) -> None:
    assert fast.trades == stepwise.trades
    assert fast.skipped.records == stepwise.skipped.records
    assert fast.executor.account == stepwise.executor.account


SETTINGS = [
    ({}, {}),
    ({"min_holding_bars": 5}, {}),
    ({"slippage_bps": 0.0, "order_ratio": 1.0}, {}),
    ({"slippage_bps": 30.0, "take_profit": 0.01, "stop_loss": 0.005, "trailing_stop": 0.004}, {}),
    ({}, {"buy": {"golden_cross": True, "macd_positive": True}}),
    ({}, {"buy": {"golden_cross": False, "bullish_candle": True, "above_ma20": True}}),
    ({}, {"buy": {"golden_cross": False, "macd_trending_up": True, "above_ma60": True}}),
    ({"min_holding_bars": 3}, {"sell": {"macd_negative": True, "signal_negative": True}}),
    ({}, {"sell": {"stop_loss": False, "take_profit": False, "trailing_stop": False}}),
    ({"fast_period": 5, "slow_period": 35, "signal_period": 5, "warmup_bars": 40}, {}),
]


def build(
    params_changes: dict[str, object], condition_changes: dict[str, dict[str, bool]]
) -> tuple[StrategyParams, Conditions]:
    params = StrategyParams(interval="minute1", **params_changes)  # type: ignore[arg-type]
    buy = Conditions().buy.model_dump() | condition_changes.get("buy", {})
    sell = Conditions().sell.model_dump() | condition_changes.get("sell", {})
    return params, Conditions(buy=BuyConditions(**buy), sell=SellConditions(**sell))


@pytest.mark.parametrize(("params_changes", "condition_changes"), SETTINGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_replay_any_settings_equals_stepwise_live_decisions(
    params_changes: dict[str, object], condition_changes: dict[str, dict[str, bool]], seed: int
) -> None:
    params, conditions = build(params_changes, condition_changes)
    series = random_walk(seed)
    fast = replay(series, params, conditions, CASH)
    assert_same(fast, replay_stepwise(series, params, conditions, CASH))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sigma=st.sampled_from([0.001, 0.01, 0.03]),
    cash=st.sampled_from([Decimal(5_100), Decimal(60_000), Decimal(1_000_000)]),
    ratio=st.sampled_from([0.1, 0.5, 1.0]),
    holding=st.integers(0, 6),
    buy_keys=st.sets(st.sampled_from(BUY_CONDITION_KEYS), min_size=1, max_size=3),
)
def test_fast_replay_random_markets_and_accounts_equals_stepwise(
    seed: int, sigma: float, cash: Decimal, ratio: float, holding: int, buy_keys: set[str]
) -> None:
    params = StrategyParams(interval="minute1", order_ratio=ratio, min_holding_bars=holding, warmup_bars=60)
    conditions = Conditions(buy=BuyConditions(**{key: key in buy_keys for key in BUY_CONDITION_KEYS}))
    series = random_walk(seed, count=1200, sigma=sigma)
    assert_same(replay(series, params, conditions, cash), replay_stepwise(series, params, conditions, cash))


# --- hand-made series: the answer is known without computing a MACD -------------------------

BULLISH_ONLY = Conditions(
    buy=BuyConditions(golden_cross=False, bullish_candle=True),
    sell=SellConditions(stop_loss=True, take_profit=True, trailing_stop=False, dead_cross=False),
)
PLAIN = StrategyParams(interval="minute1", warmup_bars=35, slippage_bps=0.0, order_ratio=1.0)


def flat_then(moves: list[tuple[float, float]], warmup: int = 35) -> CandleSeries:
    """`warmup` flat candles at 10,000 KRW, then candles given as (open, close)."""
    opens = [10_000.0] * warmup + [move[0] for move in moves]
    closes = [10_000.0] * warmup + [move[1] for move in moves]
    return series_from_closes(np.array(closes), np.array(opens))


def both(
    series: CandleSeries, params: StrategyParams, conditions: Conditions, cash: Decimal = CASH
) -> ReplayResult:
    fast = replay(series, params, conditions, cash)
    assert_same(fast, replay_stepwise(series, params, conditions, cash))
    return fast


def test_entry_waits_for_warmup_and_buys_on_first_bullish_close() -> None:
    series = flat_then([(10_000, 10_000), (10_000, 10_010), (10_010, 10_020)])
    result = both(series, PLAIN, BULLISH_ONLY)
    assert [trade.entry_index for trade in result.trades] == [36]
    assert result.trades[0].entry.price == Decimal("10010.0")


def test_bullish_candle_inside_warmup_not_traded() -> None:
    series = flat_then([(9_990, 10_000)], warmup=34)  # candle index 34 is still warm-up
    assert both(series, PLAIN, BULLISH_ONLY).trades == []


def test_stop_loss_sells_on_first_close_at_or_below_level() -> None:
    series = flat_then([(10_000, 10_100), (10_100, 10_000), (10_000, 9_898), (9_898, 9_000)])
    trade = both(series, PLAIN, BULLISH_ONLY).trades[0]
    assert (trade.entry_index, trade.exit_index, trade.exit_reason) == (35, 37, "stop_loss")
    assert trade.exit is not None
    assert trade.exit.price == Decimal("9898.0")


def test_take_profit_sells_and_same_candle_does_not_rebuy() -> None:
    # Candle 36 closes above its open (bullish) and above the target: it sells, and must not buy.
    series = flat_then([(10_000, 10_100), (10_100, 10_500), (10_400, 10_450)])
    result = both(series, PLAIN, BULLISH_ONLY)
    assert [(t.entry_index, t.exit_index, t.exit_reason) for t in result.trades] == [
        (35, 36, "take_profit"),
        (37, None, None),
    ]


def test_trailing_stop_follows_peak_of_closes() -> None:
    conditions = BULLISH_ONLY.model_copy(update={"sell": SellConditions(stop_loss=False, take_profit=False)})
    params = PLAIN.model_copy(update={"trailing_stop": 0.05})
    series = flat_then([(10_000, 10_100), (10_100, 12_000), (12_000, 11_500), (11_500, 11_400)])
    trade = both(series, params, conditions).trades[0]
    assert (trade.exit_index, trade.exit_reason) == (38, "trailing_stop")


def test_position_open_at_end_has_no_exit() -> None:
    trade = both(flat_then([(10_000, 10_100), (10_100, 10_150)]), PLAIN, BULLISH_ONLY).trades[0]
    assert trade.exit_index is None
    assert trade.exit_reason is None
    assert trade.profit is None


def test_budget_under_minimum_never_sends_an_order() -> None:
    series = flat_then([(10_000, 10_100), (10_100, 10_150), (10_150, 10_200)])
    result = both(series, PLAIN, BULLISH_ONLY, cash=Decimal(5_001))  # 5,001 / 1.0005 < 5,000
    assert result.trades == []
    [skipped] = result.skipped.records
    assert (skipped.side, skipped.reason, skipped.count) == ("bid", "below_min_order", 3)
    assert result.executor.account.krw == Decimal(5_001)


def test_sell_worth_under_minimum_refused_then_sold_when_price_allows() -> None:
    params = PLAIN.model_copy(update={"order_ratio": 1.0})
    moves = [(10_000, 10_010), (10_010, 9_000), (9_000, 8_900), (8_900, 9_000), (9_000, 10_700)]
    result = both(flat_then(moves), params, BULLISH_ONLY, cash=Decimal(5_010))
    [trade] = result.trades
    assert (trade.exit_index, trade.exit_reason) == (39, "take_profit")
    [refused] = result.skipped.records
    assert (refused.side, refused.reason, refused.count) == ("ask", "under_min_total_ask", 3)
    assert (refused.first_index, refused.last_index) == (36, 38)


def test_fees_and_slippage_reduce_profit_exactly() -> None:
    params = PLAIN.model_copy(update={"slippage_bps": 10.0, "order_ratio": 0.5})
    series = flat_then([(10_000, 10_000.0 + 100), (10_100, 10_500)])
    trade = both(series, params, BULLISH_ONLY).trades[0]
    buy_price = Decimal("10100.0") * Decimal("1.001")
    sell_price = Decimal("10500") * Decimal("0.999")
    assert trade.entry.price == buy_price
    assert trade.exit is not None
    assert trade.exit.price == sell_price
    budget = Decimal(499_750)  # floor(1,000,000 * 0.5 / 1.0005)
    volume = (budget / buy_price).quantize(Decimal("0.00000001"), rounding="ROUND_DOWN")
    expected = volume * sell_price * Decimal("0.9995") - volume * buy_price * Decimal("1.0005")
    assert trade.profit == expected
