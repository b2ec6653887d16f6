"""The search space: model ranges by default, narrowed by a file, never an invalid candidate."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tradebot.backtest.optimize.space import (
    PARAM_KEYS,
    Fixed,
    Range,
    Switch,
    default_space,
    load_space,
    model_bounds,
)
from tradebot.core.errors import SettingsError
from tradebot.core.models import Interval
from tradebot.core.params import StrategyParams

BASE = StrategyParams(interval=Interval.MINUTE1)
PRICE = 50_000_000.0


def _candidates(space_path: Path | None, count: int) -> list[tuple[StrategyParams, object]]:
    space = load_space(space_path, PRICE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    found = []
    for _ in range(count):
        trial = study.ask()
        candidate = space.suggest(trial, BASE, space.warmup_bars(BASE))
        study.tell(trial, 0.0)
        found.append((candidate.params, candidate.conditions))
    return found


def test_default_space_ranges_stay_inside_the_params_model() -> None:
    space = default_space(PRICE)

    for key in PARAM_KEYS:
        dimension = space.dimensions[key]
        assert isinstance(dimension, Range)
        low, high = model_bounds(key)
        assert low <= dimension.low <= dimension.high <= high
    assert model_bounds("fast_period") == (2, 500)
    assert model_bounds("stop_loss")[1] < 1


def test_default_space_candidates_are_always_valid_settings() -> None:
    for params, conditions in _candidates(None, 300):
        assert params.fast_period < params.slow_period
        assert params.warmup_bars >= params.slow_period + params.signal_period
        assert conditions.enabled_buy()  # type: ignore[attr-defined]


def test_space_with_one_free_buy_switch_forces_it_on_when_the_rest_are_off(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    fixed_off = "\n".join(
        f"  {key}: false"
        for key in ("golden_cross", "macd_positive", "signal_positive", "bullish_candle", "macd_trending_up")
    )
    path.write_text(f"buy:\n{fixed_off}\n  above_ma20: [true, false]\n  above_ma60: false\n", "utf-8")

    for _, conditions in _candidates(path, 40):
        assert conditions.enabled_buy() == ("above_ma20",)  # type: ignore[attr-defined]


def test_space_file_narrows_ranges_and_fixes_values(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(
        "fast_period: [5, 9]\nslow_period: {low: 20, high: 30}\ntake_profit: 0.02\n"
        "sell.dead_cross: false\nbuy:\n  golden_cross: [true, false]\n",
        "utf-8",
    )

    space = load_space(path, PRICE)

    assert space.dimensions["fast_period"] == Range(5, 9, integer=True, log=True)
    assert space.dimensions["take_profit"] == Fixed(0.02)
    assert space.dimensions["sell.dead_cross"] == Fixed(False)
    assert space.dimensions["buy.golden_cross"] == Switch()
    for params, conditions in _candidates(path, 50):
        assert 5 <= params.fast_period <= 9
        assert 20 <= params.slow_period <= 30
        assert params.take_profit == 0.02
        assert conditions.sell.dead_cross is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fast_period: [1, 9]\n", "fast_period = 1 is outside the allowed range: a whole number >= 2 and"),
        ("fast_period: 12.5\n", "fast_period = 12.5 is outside the allowed range: a whole number"),
        ("stop_loss: 0\n", "stop_loss = 0 is outside the allowed range: > 0 and < 1"),
        ("stop_loss: 1.5\n", "stop_loss = 1.5 is outside"),
        ("fast_perod: [3, 9]\n", "unknown setting"),
        ("fast_period: [30, 40]\nslow_period: [10, 30]\n", "fast_period must be able to stay below"),
        ("slow_period: [9, 5]\n", "is empty"),
        ("buy.golden_cross: maybe\n", "is a switch"),
        ("- 1\n", "expected a mapping"),
        (
            "buy: {golden_cross: false, macd_positive: false, signal_positive: false, bullish_candle: false,"
            " macd_trending_up: false, above_ma20: false, above_ma60: false}\n",
            "at least one buy condition",
        ),
    ],
)
def test_load_space_bad_entry_raises_settings_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text, "utf-8")

    with pytest.raises(SettingsError, match=message):
        load_space(path, PRICE)


def test_space_file_values_are_checked_against_the_model_not_the_default_range(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("macd_threshold: [-500000, 500000]\nstop_loss: 0.0005\n", "utf-8")

    space = load_space(path, PRICE)  # +-500,000 KRW is wider than the default +-0.2% of the price

    assert space.dimensions["macd_threshold"] == Range(-500_000, 500_000, integer=False)
    assert space.dimensions["stop_loss"] == Fixed(0.0005)


def test_load_space_missing_file_raises_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="space file not found"):
        load_space(tmp_path / "absent.yaml", PRICE)
