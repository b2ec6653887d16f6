"""Parameters and conditions models: ranges, cross-field rules, normalisation, immutability."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tradebot.core.models import Interval
from tradebot.core.params import (
    BUY_CONDITION_KEYS,
    MAX_WARMUP_BARS,
    SELL_CONDITION_KEYS,
    BuyConditions,
    Conditions,
    StrategyParams,
)

SEED_KEYS = {
    "market", "interval", "fast_period", "slow_period", "signal_period", "macd_threshold",
    "take_profit", "stop_loss", "trailing_stop", "min_holding_bars", "order_ratio",
    "price_exit_check", "warmup_bars", "slippage_bps",
}  # fmt: skip
PROTECTION_KEYS = {"cooldown_bars", "max_consecutive_losses", "loss_pause_bars", "max_daily_loss"}


SAFEGUARD_KEYS = {"safeguards"}


def test_params_have_exactly_the_seed_protection_and_safeguard_keys() -> None:
    assert set(StrategyParams.model_fields) == SEED_KEYS | PROTECTION_KEYS | SAFEGUARD_KEYS


def test_protections_default_off() -> None:
    params = StrategyParams()
    assert [getattr(params, key) for key in sorted(PROTECTION_KEYS)] == [0, 0, 0, 0.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("cooldown_bars", -1), ("max_consecutive_losses", -1), ("loss_pause_bars", -1),
     ("max_daily_loss", -0.01), ("max_daily_loss", 1.5), ("max_daily_loss", float("nan"))],
)  # fmt: skip
def test_protection_out_of_range_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        StrategyParams(**{field: value})  # type: ignore[arg-type]


def test_loss_streak_without_a_pause_length_refused() -> None:
    with pytest.raises(ValidationError, match="loss_pause_bars"):
        StrategyParams(max_consecutive_losses=3)
    assert StrategyParams(max_consecutive_losses=3, loss_pause_bars=10).loss_pause_bars == 10
    assert StrategyParams(loss_pause_bars=10).max_consecutive_losses == 0  # a pause alone stays off


def test_safeguards_default_allow_no_caution_flag_and_refuse_unknown_flags() -> None:
    assert StrategyParams().safeguards.allowed_caution_flags == ()
    with pytest.raises(ValidationError, match="allowed_caution_flags"):
        StrategyParams.model_validate({"safeguards": {"allowed_caution_flags": ["WARNING"]}})


def test_params_every_field_has_a_description_for_the_ui() -> None:
    assert all(field.description for field in StrategyParams.model_fields.values())


@pytest.mark.parametrize(("given", "expected"), [("krw-btc", "KRW-BTC"), (" KRW-1INCH ", "KRW-1INCH")])
def test_market_normalised(given: str, expected: str) -> None:
    assert StrategyParams(market=given).market == expected


@pytest.mark.parametrize("market", ["BTC", "USDT-BTC", "KRW-", "KRW-BTC/ETH", "KRW-../x"])
def test_market_not_krw_code_refused(market: str) -> None:
    with pytest.raises(ValidationError, match="market"):
        StrategyParams(market=market)


def test_fast_period_not_below_slow_refused() -> None:
    with pytest.raises(ValidationError, match="slow_period"):
        StrategyParams(fast_period=26, slow_period=26)


def test_warmup_shorter_than_slow_plus_signal_refused() -> None:
    with pytest.raises(ValidationError, match="warmup_bars"):
        StrategyParams(warmup_bars=34)
    assert StrategyParams(warmup_bars=35).warmup_bars == 35


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("take_profit", 0.0),
        ("stop_loss", 1.0),
        ("trailing_stop", -0.1),
        ("order_ratio", 1.01),
        ("order_ratio", 0.0),
        ("slippage_bps", -1.0),
        ("fast_period", 1),
        ("min_holding_bars", -1),
        ("take_profit", float("nan")),
        ("macd_threshold", float("inf")),
    ],
)
def test_out_of_range_value_refused_naming_field(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        StrategyParams(**{field: value})  # type: ignore[arg-type]


def test_params_frozen_and_unknown_keys_refused() -> None:
    params = StrategyParams()
    with pytest.raises(ValidationError):
        params.fast_period = 5  # type: ignore[misc]
    with pytest.raises(ValidationError, match="extra"):
        StrategyParams(order_ratio_percent=10)  # type: ignore[call-arg]


def test_interval_accepts_names() -> None:
    assert StrategyParams(interval="day").interval is Interval.DAY  # type: ignore[arg-type]
    assert Interval.MINUTE240.seconds == 240 * 60


def test_conditions_keys_are_trading_rules_keys() -> None:
    conditions = Conditions()
    assert tuple(conditions.buy.model_dump()) == BUY_CONDITION_KEYS
    assert tuple(conditions.sell.model_dump()) == SELL_CONDITION_KEYS
    assert conditions.enabled_buy() == ("golden_cross",)


def test_buy_side_with_nothing_enabled_refused() -> None:
    with pytest.raises(ValidationError, match="at least one buy condition"):
        BuyConditions(golden_cross=False)


def test_condition_switch_must_be_boolean() -> None:
    with pytest.raises(ValidationError):
        BuyConditions(golden_cross="yes")  # type: ignore[arg-type]


def test_warmup_bars_bounded_to_what_upbit_pages_allow() -> None:
    schema = StrategyParams.model_json_schema()["properties"]["warmup_bars"]
    assert schema["maximum"] == MAX_WARMUP_BARS == 2_000
    assert str(MAX_WARMUP_BARS) in schema["description"].replace(",", "")


def test_warmup_bars_above_bound_in_an_old_file_loads_clamped() -> None:
    # Files saved while the form allowed 100,000 keep loading, as the bound.
    assert StrategyParams.model_validate({"warmup_bars": 100_000}).warmup_bars == MAX_WARMUP_BARS
    assert StrategyParams.model_validate_json('{"warmup_bars": 2001}').warmup_bars == MAX_WARMUP_BARS
    with pytest.raises(ValidationError, match="warmup_bars"):
        StrategyParams(warmup_bars=0)
