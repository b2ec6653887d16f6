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
    cash=st.sampled_from([Decimal(5_100), Decimal(5_400), Decimal(60_000), Decimal(1_000_000)]),
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


@pytest.mark.parametrize(("seed", "ending"), [(1, "below_min_exit"), (2, "dust")])
def test_fast_replay_small_account_ends_in_dust_or_below_min_exit_equals_stepwise(
    seed: int, ending: str
) -> None:
    """5,600 KRW shrinking by stop losses: it ends written off as dust or refused as below_min_exit."""
    params = StrategyParams(interval="minute1", order_ratio=1.0, warmup_bars=60, stop_loss=0.01)
    conditions = Conditions(sell=SellConditions(take_profit=False, trailing_stop=False, dead_cross=False))
    series = random_walk(seed, count=3000, sigma=0.03)
    fast = replay(series, params, conditions, Decimal(5_600))
    assert_same(fast, replay_stepwise(series, params, conditions, Decimal(5_600)))
    outcomes = [trade.exit_reason for trade in fast.trades] + [
        record.reason for record in fast.skipped.records
    ]
    assert ending in outcomes
    assert (fast.executor.account.dust > 0) is (ending == "dust")


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


def test_entry_not_sellable_at_its_stop_loss_refused_below_min_exit() -> None:
    # 5,010 KRW buys 5,007 KRW of coin; at a 2% stop it would be worth ~4,907 KRW: never sellable.
    moves = [(10_000, 10_010), (10_010, 10_020), (10_020, 10_030)]
    result = both(flat_then(moves), PLAIN, BULLISH_ONLY, cash=Decimal(5_010))
    assert result.trades == []
    [skipped] = result.skipped.records
    assert (skipped.side, skipped.reason, skipped.count) == ("bid", "below_min_exit", 3)
    assert result.executor.account.krw == Decimal(5_010)


def test_entry_without_stop_loss_needs_only_its_own_value_over_minimum() -> None:
    no_stop = BULLISH_ONLY.model_copy(update={"sell": SellConditions(stop_loss=False, take_profit=True)})
    moves = [(10_000, 10_010), (10_010, 10_020)]
    result = both(flat_then(moves), PLAIN, no_stop, cash=Decimal(5_010))
    assert [trade.entry_index for trade in result.trades] == [35]


@pytest.mark.parametrize(("cash", "refused"), [(Decimal(5_105), True), (Decimal(5_106), False)])
def test_below_min_exit_boundary_is_value_at_stop_under_5000(cash: Decimal, refused: bool) -> None:
    # 5,105 KRW: budget 5,102, volume 0.5102, worth 4,999.96 at the 2% stop: refused.
    # 5,106 KRW: budget 5,103, volume 0.5103, worth 5,000.94 at the stop: bought.
    result = both(flat_then([(9_999, 10_000), (10_000, 10_000)]), PLAIN, BULLISH_ONLY, cash=cash)
    assert (result.trades == []) is refused
    assert ([record.reason for record in result.skipped.records] == ["below_min_exit"]) is refused


def test_exit_under_minimum_written_off_as_dust_without_fee_and_same_candle_does_not_rebuy() -> None:
    # Bought at 10,010 for 5,200 KRW (worth 5,096 at its 2% stop); a gap to 9,000 leaves 4,675 KRW.
    moves = [(10_000, 10_010), (8_900, 9_000), (9_000, 9_100)]
    result = both(flat_then(moves), PLAIN, BULLISH_ONLY, cash=Decimal(5_203))
    [trade] = result.trades
    assert (trade.entry_index, trade.exit_index, trade.exit_reason) == (35, 36, "dust")
    assert trade.exit is not None
    volume = trade.entry.volume
    assert (trade.exit.price, trade.exit.volume, trade.exit.fee) == (Decimal("9000.0"), volume, 0)
    assert trade.profit == volume * Decimal(9000) - trade.entry.funds - trade.entry.fee
    account = result.executor.account
    assert (account.volume, account.dust, account.entry_price) == (0, volume, None)
    assert account.krw == Decimal(5_203) + trade.entry.krw_delta  # nothing was sold
    # Candle 36 (bullish) wrote off dust and did not buy; candle 37 is evaluated flat.
    [skipped] = result.skipped.records
    assert (skipped.first_index, skipped.reason) == (37, "below_min_order")
    assert account.equity(Decimal(9100)) == account.krw + volume * Decimal(9100)


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
