"""The strategy decision, rule by rule, on hand-made indicator rows whose answer is known."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from tradebot.core.indicators import IndicatorRow
from tradebot.core.krw_rules import to_decimal
from tradebot.core.params import BUY_CONDITION_KEYS, BuyConditions, Conditions, SellConditions, StrategyParams
from tradebot.core.strategy import (
    Action,
    IndicatorWindow,
    PositionError,
    PositionView,
    check_price_exits,
    decide,
)

NAN = math.nan
PARAMS = StrategyParams(warmup_bars=35, stop_loss=0.02, take_profit=0.03, trailing_stop=0.05)
AFTER_WARMUP = 100


def row(
    macd: float = 0.0,
    signal: float = 0.0,
    close: float = 100.0,
    open_price: float = 100.0,
    ma20: float = NAN,
    ma60: float = NAN,
) -> IndicatorRow:
    return IndicatorRow(close, open_price, macd, signal, macd - signal, ma20, ma60)


def window(*rows: IndicatorRow) -> IndicatorWindow:
    result = IndicatorWindow()
    for item in rows:
        result.push(item)
    return result


def only_buy(key: str) -> Conditions:
    flags = dict.fromkeys(BUY_CONDITION_KEYS, False) | {key: True}
    return Conditions(buy=BuyConditions(**flags))


def only_sell(*keys: str) -> Conditions:
    flags = {name: name in keys for name in SellConditions.model_fields}
    return Conditions(sell=SellConditions(**flags))


def entry(rows: IndicatorWindow, conditions: Conditions, params: StrategyParams = PARAMS) -> Action:
    return decide(rows, AFTER_WARMUP, None, params, conditions).action


# --- entries -------------------------------------------------------------------------------


def test_golden_cross_macd_crosses_above_signal_buys() -> None:
    rows = window(row(macd=-1.0, signal=0.0), row(macd=0.5, signal=0.0))
    decision = decide(rows, AFTER_WARMUP, None, PARAMS, only_buy("golden_cross"))
    assert decision.action is Action.BUY
    assert decision.conditions["golden_cross"].passed
    assert decision.conditions["golden_cross"].value == pytest.approx(0.5)


def test_golden_cross_touching_then_above_buys() -> None:
    rows = window(row(macd=0.0, signal=0.0), row(macd=1e-12, signal=0.0))
    assert entry(rows, only_buy("golden_cross")) is Action.BUY


def test_golden_cross_already_above_holds() -> None:
    rows = window(row(macd=1.0, signal=0.0), row(macd=2.0, signal=0.0))
    decision = decide(rows, AFTER_WARMUP, None, PARAMS, only_buy("golden_cross"))
    assert decision.action is Action.HOLD
    assert "golden_cross failed" in decision.reason


def test_golden_cross_first_candle_has_no_previous_and_fails() -> None:
    assert entry(window(row(macd=1.0, signal=0.0)), only_buy("golden_cross")) is Action.HOLD


@pytest.mark.parametrize(("macd", "expected"), [(0.6, Action.BUY), (0.5, Action.HOLD), (0.4, Action.HOLD)])
def test_macd_positive_compares_with_threshold_strictly(macd: float, expected: Action) -> None:
    params = PARAMS.model_copy(update={"macd_threshold": 0.5})
    assert entry(window(row(macd=macd)), only_buy("macd_positive"), params) is expected


@pytest.mark.parametrize(("signal", "expected"), [(-0.1, Action.BUY), (-0.2, Action.HOLD)])
def test_signal_positive_compares_with_negative_threshold(signal: float, expected: Action) -> None:
    params = PARAMS.model_copy(update={"macd_threshold": -0.2})
    assert entry(window(row(signal=signal)), only_buy("signal_positive"), params) is expected


@pytest.mark.parametrize(
    ("close", "expected"), [(101.0, Action.BUY), (100.0, Action.HOLD), (99.0, Action.HOLD)]
)
def test_bullish_candle_needs_close_above_open(close: float, expected: Action) -> None:
    assert entry(window(row(close=close, open_price=100.0)), only_buy("bullish_candle")) is expected


def test_macd_trending_up_three_rising_values_buys() -> None:
    rows = window(row(macd=1.0), row(macd=2.0), row(macd=3.0))
    assert entry(rows, only_buy("macd_trending_up")) is Action.BUY


@pytest.mark.parametrize("values", [(1.0, 2.0, 2.0), (2.0, 1.0, 3.0), (3.0, 2.0, 1.0)])
def test_macd_trending_up_not_strictly_rising_holds(values: tuple[float, float, float]) -> None:
    rows = window(*(row(macd=value) for value in values))
    assert entry(rows, only_buy("macd_trending_up")) is Action.HOLD


def test_macd_trending_up_two_candles_only_is_undefined_and_fails() -> None:
    assert entry(window(row(macd=1.0), row(macd=2.0)), only_buy("macd_trending_up")) is Action.HOLD


@pytest.mark.parametrize(("key", "field"), [("above_ma20", "ma20"), ("above_ma60", "ma60")])
def test_above_moving_average_passes_only_when_defined_and_below_close(key: str, field: str) -> None:
    assert entry(window(row(close=101.0, **{field: 100.0})), only_buy(key)) is Action.BUY
    assert entry(window(row(close=100.0, **{field: 100.0})), only_buy(key)) is Action.HOLD
    undefined = decide(window(row(close=101.0)), AFTER_WARMUP, None, PARAMS, only_buy(key))
    assert undefined.action is Action.HOLD
    assert undefined.conditions[key].passed is False
    assert undefined.conditions[key].value is None


def test_entry_every_enabled_condition_must_hold() -> None:
    conditions = Conditions(buy=BuyConditions(golden_cross=True, bullish_candle=True))
    cross = (row(macd=-1.0), row(macd=1.0, close=99.0, open_price=100.0))
    decision = decide(window(*cross), AFTER_WARMUP, None, PARAMS, conditions)
    assert decision.action is Action.HOLD
    assert decision.reason == "no entry: bullish_candle failed"
    assert decision.conditions["golden_cross"].passed


def test_entry_decision_lists_every_buy_condition_with_enabled_flag() -> None:
    decision = decide(window(row()), AFTER_WARMUP, None, PARAMS, Conditions())
    assert set(decision.conditions) == set(BUY_CONDITION_KEYS)
    assert decision.conditions["golden_cross"].enabled
    assert not decision.conditions["macd_positive"].enabled


def test_entry_during_warmup_holds_even_when_conditions_hold() -> None:
    rows = window(row(macd=-1.0), row(macd=1.0))
    warming = decide(rows, PARAMS.warmup_bars, None, PARAMS, Conditions())
    assert warming.action is Action.HOLD
    assert warming.reason.startswith("warming up")
    assert decide(rows, PARAMS.warmup_bars + 1, None, PARAMS, Conditions()).action is Action.BUY


# --- exits ---------------------------------------------------------------------------------


def position(entry_price: float = 100.0, peak: float = 100.0, bars_held: int = 1) -> PositionView:
    return PositionView(entry_price=to_decimal(entry_price), peak=to_decimal(peak), bars_held=bars_held)


def exit_on_close(
    close: float, conditions: Conditions, held: PositionView, *rows: IndicatorRow
) -> str | None:
    history = rows or (row(close=close),)
    decision = decide(window(*history), AFTER_WARMUP, held, PARAMS, conditions)
    return decision.trigger if decision.action is Action.SELL else None


@pytest.mark.parametrize(("close", "fires"), [(98.0, True), (98.01, False)])
def test_stop_loss_fires_at_or_below_entry_times_one_minus_stop(close: float, fires: bool) -> None:
    assert (exit_on_close(close, only_sell("stop_loss"), position()) == "stop_loss") is fires


@pytest.mark.parametrize(("close", "fires"), [(103.0, True), (102.99, False)])
def test_take_profit_fires_at_or_above_target(close: float, fires: bool) -> None:
    assert (exit_on_close(close, only_sell("take_profit"), position()) == "take_profit") is fires


def test_trailing_stop_fires_five_percent_below_peak() -> None:
    held = position(peak=120.0)
    assert exit_on_close(114.0, only_sell("trailing_stop"), held) == "trailing_stop"
    assert exit_on_close(114.01, only_sell("trailing_stop"), held) is None


def test_trailing_stop_peak_is_at_least_entry_price() -> None:
    held = position(entry_price=100.0, peak=0.0)
    assert exit_on_close(95.0, only_sell("trailing_stop"), held) == "trailing_stop"


def test_exit_decision_reports_new_peak_and_levels() -> None:
    decision = decide(
        window(row(close=130.0)), AFTER_WARMUP, position(peak=120.0), PARAMS, only_sell("stop_loss")
    )
    assert decision.peak == Decimal(130)
    assert decision.levels is not None
    assert decision.levels.trailing_stop == Decimal("123.5")
    assert decision.levels.stop_loss == Decimal(98)


def test_exits_checked_in_order_stop_loss_before_trailing_stop() -> None:
    held = position(peak=110.0)
    everything = Conditions(sell=SellConditions(stop_loss=True, trailing_stop=True, dead_cross=True))
    cross = (row(macd=1.0, close=97.0), row(macd=-1.0, close=97.0))
    assert exit_on_close(97.0, everything, held, *cross) == "stop_loss"
    assert exit_on_close(97.0, only_sell("trailing_stop", "dead_cross"), held, *cross) == "trailing_stop"
    assert exit_on_close(97.0, only_sell("dead_cross"), held, *cross) == "dead_cross"


def test_disabled_exit_rule_never_fires() -> None:
    assert exit_on_close(50.0, only_sell("take_profit"), position()) is None


def test_dead_cross_fires_on_cross_below_signal() -> None:
    cross = (row(macd=0.5, signal=0.5), row(macd=0.4, signal=0.5))
    assert exit_on_close(100.0, only_sell("dead_cross"), position(), *cross) == "dead_cross"
    no_cross = (row(macd=0.3, signal=0.5), row(macd=0.2, signal=0.5))
    assert exit_on_close(100.0, only_sell("dead_cross"), position(), *no_cross) is None


@pytest.mark.parametrize(("key", "field"), [("macd_negative", "macd"), ("signal_negative", "signal")])
def test_negative_rules_fire_below_threshold(key: str, field: str) -> None:
    assert exit_on_close(100.0, only_sell(key), position(), row(**{field: -0.1})) == key
    assert exit_on_close(100.0, only_sell(key), position(), row(**{field: 0.0})) is None


def test_min_holding_bars_gates_indicator_exits_but_not_price_exits() -> None:
    params = PARAMS.model_copy(update={"min_holding_bars": 3})
    cross = window(row(macd=1.0, close=97.0), row(macd=-1.0, close=97.0))
    indicator_only = only_sell("dead_cross")
    early = decide(cross, AFTER_WARMUP, position(bars_held=2), params, indicator_only)
    assert early.action is Action.HOLD
    assert early.conditions["dead_cross"].passed  # the rule held; the gate stopped it
    assert "not yet allowed" in early.reason
    assert decide(cross, AFTER_WARMUP, position(bars_held=3), params, indicator_only).trigger == "dead_cross"
    with_stop = only_sell("stop_loss", "dead_cross")
    assert decide(cross, AFTER_WARMUP, position(bars_held=0), params, with_stop).trigger == "stop_loss"


def test_price_exits_apply_during_warmup_with_open_position() -> None:
    decision = decide(window(row(close=90.0)), 1, position(), PARAMS, Conditions())
    assert decision.trigger == "stop_loss"


def test_tick_check_uses_latest_price_and_only_price_rules() -> None:
    decision = check_price_exits(Decimal("97.9"), position(), PARAMS, Conditions())
    assert decision.action is Action.SELL
    assert decision.trigger == "stop_loss"
    calm = check_price_exits(Decimal(101), position(peak=100.0), PARAMS, Conditions())
    assert calm.action is Action.HOLD
    assert calm.peak == Decimal(101)
    assert set(calm.conditions) == {"stop_loss", "take_profit", "trailing_stop"}


@pytest.mark.parametrize("bad", ["0", "-1", "NaN", "Infinity"])
def test_position_without_valid_entry_price_raises_alarm(bad: str) -> None:
    with pytest.raises(PositionError, match="entry price"):
        PositionView(entry_price=Decimal(bad), peak=Decimal(100), bars_held=1)


@pytest.mark.parametrize(
    ("stop_loss", "entry", "price", "fires"),
    [(0.07, "1000", "930", True), (0.07, "1000", "930.0000001", False), (0.03, "5052", "4900.44", True)],
)
def test_stop_loss_exact_decimal_level_fires_at_exact_price(
    stop_loss: float, entry: str, price: str, fires: bool
) -> None:
    """v2: entry 1,000 with a 7% stop triggers at 930 (the float product 929.9999999999999 would not)."""
    params = PARAMS.model_copy(update={"stop_loss": stop_loss})
    held = PositionView(Decimal(entry), Decimal(entry), 1)
    decision = check_price_exits(Decimal(price), held, params, only_sell("stop_loss"))
    assert (decision.trigger == "stop_loss") is fires
    on_close = decide(window(row(close=float(price))), AFTER_WARMUP, held, params, only_sell("stop_loss"))
    assert (on_close.trigger == "stop_loss") is fires


def test_take_profit_and_trailing_exact_decimal_levels() -> None:
    params = PARAMS.model_copy(update={"take_profit": 0.07, "trailing_stop": 0.07})
    held = PositionView(Decimal(1000), Decimal(1000), 1)
    assert check_price_exits(Decimal(1070), held, params, only_sell("take_profit")).trigger == "take_profit"
    assert (
        check_price_exits(Decimal(930), held, params, only_sell("trailing_stop")).trigger == "trailing_stop"
    )
    levels = check_price_exits(Decimal(1000), held, params, Conditions()).levels
    assert levels is not None
    assert (levels.stop_loss, levels.take_profit) == (Decimal("980.00"), Decimal("1070.00"))
