"""The search space: which settings a study varies, and within which bounds.

By default every searched setting spans the parameter model's own range (`StrategyParams`
fields), so a study can never propose a value the settings form would refuse. A space file
(`--space SPACE.yaml`) narrows a range, fixes a value or fixes a switch. Invalid combinations are
never proposed: the slow period is drawn above the fast one, and the last free buy switch is
forced on when every other one came out off (at least one buy condition must be enabled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tradebot.core.errors import SettingsError
from tradebot.core.params import (
    BUY_CONDITION_KEYS,
    MAX_WARMUP_BARS,
    SELL_CONDITION_KEYS,
    Conditions,
    StrategyParams,
)

if TYPE_CHECKING:
    import optuna

INTEGER_KEYS = ("fast_period", "slow_period", "signal_period", "min_holding_bars")
FRACTION_KEYS = ("take_profit", "stop_loss", "trailing_stop")
PERIOD_KEYS = ("fast_period", "slow_period", "signal_period")
PARAM_KEYS = (*PERIOD_KEYS, "macd_threshold", *FRACTION_KEYS, "min_holding_bars")
SWITCH_KEYS = tuple(f"buy.{key}" for key in BUY_CONDITION_KEYS) + tuple(
    f"sell.{key}" for key in SELL_CONDITION_KEYS
)
# A fraction the model allows down to "just above 0" starts here: 0.1% is below one round trip's
# fees, so nothing smaller can matter. Fractions are drawn on a log scale (0.5% and 5% are as
# different as 5% and 50%), periods too (a step from 5 to 6 matters, one from 400 to 401 does not).
SMALLEST_FRACTION = 0.001
LARGEST_OPEN_FRACTION = 0.999
# The model allows any MACD threshold up to 1e12 KRW; the MACD of a price p stays within a few
# tenths of a percent of p on every interval, so the default range is that share of the median close.
THRESHOLD_SHARE_OF_PRICE = 0.002


@dataclass(frozen=True, slots=True)
class Range:
    """A searched numeric setting: integers when `integer`, drawn on a log scale when `log`."""

    low: float
    high: float
    integer: bool
    log: bool = False


@dataclass(frozen=True, slots=True)
class Fixed:
    """A setting held at one value in every trial."""

    value: float | bool


@dataclass(frozen=True, slots=True)
class Switch:
    """A buy or sell condition tried both on and off."""


Dimension = Range | Fixed | Switch


@dataclass(frozen=True, slots=True)
class Candidate:
    """One trial's settings: full params and conditions, both valid."""

    params: StrategyParams
    conditions: Conditions


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """Every searchable setting (PARAM_KEYS, SWITCH_KEYS) and how a study treats it."""

    dimensions: dict[str, Dimension]

    def warmup_bars(self, base: StrategyParams) -> int:
        """One warm-up for every trial: the base one, raised to fit the longest MACD the space allows."""
        longest = self.highest("slow_period") + self.highest("signal_period")
        return int(max(base.warmup_bars, longest))

    def highest(self, key: str) -> float:
        """The largest value `key` can take."""
        dimension = self.dimensions[key]
        if isinstance(dimension, Range):
            return dimension.high
        if isinstance(dimension, Fixed):
            return float(dimension.value)
        return 1.0

    def searched(self) -> list[str]:
        """Keys a trial draws (the others are fixed)."""
        return [key for key, dimension in self.dimensions.items() if not isinstance(dimension, Fixed)]

    def suggest(self, trial: optuna.Trial, base: StrategyParams, warmup: int) -> Candidate:
        """Draw one valid candidate from `trial` (Optuna's ask interface)."""
        values: dict[str, Any] = {}
        fast = self.dimensions["fast_period"]
        slow_high = self.highest("slow_period")
        values["fast_period"] = _draw(trial, "fast_period", fast, high=min(_high(fast), slow_high - 1))
        slow = self.dimensions["slow_period"]
        slow_low = max(_low(slow), values["fast_period"] + 1)
        values["slow_period"] = _draw(trial, "slow_period", slow, low=slow_low)
        for key in PARAM_KEYS[2:]:
            values[key] = _draw(trial, key, self.dimensions[key])
        buy = self._switches(trial, "buy", BUY_CONDITION_KEYS, need_one=True)
        sell = self._switches(trial, "sell", SELL_CONDITION_KEYS, need_one=False)
        params = StrategyParams.model_validate({**base.model_dump(), **values, "warmup_bars": warmup})
        return Candidate(params, Conditions.model_validate({"buy": buy, "sell": sell}))

    def _switches(
        self, trial: optuna.Trial, side: str, keys: tuple[str, ...], need_one: bool
    ) -> dict[str, bool]:
        chosen: dict[str, bool] = {}
        free = [key for key in keys if isinstance(self.dimensions[f"{side}.{key}"], Switch)]
        for key in keys:
            dimension = self.dimensions[f"{side}.{key}"]
            if isinstance(dimension, Fixed):
                chosen[key] = bool(dimension.value)
            elif need_one and key == free[-1] and not any(chosen.values()):
                chosen[key] = True  # every other buy switch is off: this one must be on
            else:
                chosen[key] = bool(trial.suggest_categorical(f"{side}.{key}", (False, True)))
        return chosen


def _low(dimension: Dimension) -> float:
    return dimension.low if isinstance(dimension, Range) else float(_fixed_value(dimension))


def _high(dimension: Dimension) -> float:
    return dimension.high if isinstance(dimension, Range) else float(_fixed_value(dimension))


def _fixed_value(dimension: Dimension) -> float | bool:
    if not isinstance(dimension, Fixed):
        raise TypeError("a switch has no numeric bounds")
    return dimension.value


def _draw(
    trial: optuna.Trial, key: str, dimension: Dimension, low: float | None = None, high: float | None = None
) -> float | int:
    if isinstance(dimension, Fixed):
        return int(dimension.value) if key in INTEGER_KEYS else float(dimension.value)
    if not isinstance(dimension, Range):
        raise TypeError(f"{key} is not numeric")
    lowest = dimension.low if low is None else low
    highest = dimension.high if high is None else high
    if dimension.integer:
        return trial.suggest_int(key, int(lowest), int(highest), log=dimension.log)
    return trial.suggest_float(key, lowest, highest, log=dimension.log)


def model_bounds(key: str) -> tuple[float, float]:
    """The closed range `StrategyParams` allows for `key` (open ends pulled in to searchable values)."""
    low, high = -math.inf, math.inf
    for rule in StrategyParams.model_fields[key].metadata:
        low = max(low, float(getattr(rule, "ge", -math.inf)))
        high = min(high, float(getattr(rule, "le", math.inf)))
        if getattr(rule, "gt", None) is not None:
            low = max(low, SMALLEST_FRACTION)
        if getattr(rule, "lt", None) is not None:
            high = min(high, float(rule.lt) * LARGEST_OPEN_FRACTION)
    return low, high


def default_space(median_close: float) -> SearchSpace:
    """Every setting of PARAM_KEYS within the model's range, every switch on and off."""
    dimensions: dict[str, Dimension] = {}
    for key in PARAM_KEYS:
        low, high = model_bounds(key)
        if key == "macd_threshold":
            reach = min(high, median_close * THRESHOLD_SHARE_OF_PRICE)
            low, high = max(low, -reach), reach
        integer = key in INTEGER_KEYS
        dimensions[key] = Range(low, high, integer, log=key != "macd_threshold" and low > 0)
    for key in SWITCH_KEYS:
        dimensions[key] = Switch()
    return SearchSpace(dimensions)


def load_space(path: Path | None, median_close: float, fixed: Conditions | None = None) -> SearchSpace:
    """The default space narrowed by the YAML file at `path` (None: the default space).

    `fixed` (the user's `--conditions`) holds every switch at its value; the file can reopen one
    with `[true, false]`.
    """
    space = default_space(median_close)
    if fixed is not None:
        space = _fix_switches(space, fixed)
    if path is None:
        return space
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"{path}: space file not found") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path}: expected a mapping of setting names to ranges or values")
    return apply_overrides(space, document, median_close, str(path))


def apply_overrides(
    space: SearchSpace, overrides: dict[Any, Any], median_close: float, origin: str
) -> SearchSpace:
    """`space` with each entry of `overrides` (space-file syntax) narrowing or fixing its setting."""
    dimensions = dict(space.dimensions)
    defaults = default_space(median_close).dimensions
    for key, entry in _flatten(overrides, origin).items():
        dimensions[key] = narrow(key, entry, defaults[key], origin)
    narrowed = SearchSpace(dimensions)
    check_space(narrowed, origin)
    return narrowed


def _fix_switches(space: SearchSpace, conditions: Conditions) -> SearchSpace:
    dimensions = dict(space.dimensions)
    for key in SWITCH_KEYS:
        side, name = key.split(".")
        dimensions[key] = Fixed(bool(getattr(getattr(conditions, side), name)))
    return SearchSpace(dimensions)


def _flatten(document: dict[Any, Any], path: str) -> dict[str, Any]:
    """`buy: {golden_cross: true}` and `buy.golden_cross: true` both name the same switch."""
    flat: dict[str, Any] = {}
    for key, entry in document.items():
        if key in ("buy", "sell") and isinstance(entry, dict):
            flat.update({f"{key}.{inner}": value for inner, value in entry.items()})
        else:
            flat[str(key)] = entry
    unknown = sorted(set(flat) - set(PARAM_KEYS) - set(SWITCH_KEYS))
    if unknown:
        known = ", ".join((*PARAM_KEYS, "buy.<condition>", "sell.<condition>"))
        raise SettingsError(f"{path}: unknown setting(s) {', '.join(unknown)}; searchable: {known}")
    return flat


def narrow(key: str, entry: Any, default: Dimension, path: str) -> Dimension:
    """A space-file entry: a value (fixed), `[low, high]` or `{low, high, log}` (a narrower range)."""
    if isinstance(default, Switch):
        if isinstance(entry, bool):
            return Fixed(entry)
        if isinstance(entry, list) and sorted(entry) == [False, True]:
            return default
        raise SettingsError(f"{path}: {key} is a switch: give true, false or [true, false]")
    if not isinstance(default, Range):
        raise SettingsError(f"{path}: {key} cannot be searched")
    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        _check_value(key, float(entry), default, path)
        return Fixed(entry)
    low, high, log = _range_entry(key, entry, default, path)
    for value in (low, high):
        _check_value(key, value, default, path)
    if low > high or (default.integer and (low != int(low) or high != int(high))):
        raise SettingsError(f"{path}: {key} range [{low}, {high}] is empty or not whole numbers")
    if log and low <= 0:
        raise SettingsError(f"{path}: {key} cannot use a log scale from {low}; start above 0")
    return Range(low, high, default.integer, log)


def _range_entry(key: str, entry: Any, default: Range, path: str) -> tuple[float, float, bool]:
    if isinstance(entry, list) and len(entry) == 2:
        low, high, log = entry[0], entry[1], default.log
    elif isinstance(entry, dict) and set(entry) <= {"low", "high", "log"}:
        low, high = entry.get("low", default.low), entry.get("high", default.high)
        log = bool(entry.get("log", default.log))
    else:
        raise SettingsError(f"{path}: {key} must be a number, [low, high] or {{low, high, log}}")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in (low, high)):
        raise SettingsError(f"{path}: {key} bounds must be numbers")
    return float(low), float(high), log and float(low) > 0


def _check_value(key: str, value: float, default: Range, path: str) -> None:
    """Refuse a value `StrategyParams` would refuse (the model's own bounds, open ends exact)."""
    allowed = not default.integer or value == int(value)
    text = []
    for rule in StrategyParams.model_fields[key].metadata:
        for name, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            limit = getattr(rule, name, None)
            if limit is not None:
                allowed = allowed and _holds(value, sign, float(limit))
                text.append(f"{sign} {float(limit):g}")
    if not allowed:
        kind = "a whole number " if default.integer else ""
        bounds = " and ".join(text)
        raise SettingsError(f"{path}: {key} = {value:g} is outside the allowed range: {kind}{bounds}")


def _holds(value: float, sign: str, limit: float) -> bool:
    checks = {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}
    return checks[sign]


def check_space(space: SearchSpace, path: str) -> None:
    """Refuse a space with no valid candidate: fast never below slow, or every buy switch off."""
    fast, slow = space.dimensions["fast_period"], space.dimensions["slow_period"]
    if _low(fast) >= _high(slow):
        raise SettingsError(f"{path}: fast_period must be able to stay below slow_period")
    buy = [space.dimensions[f"buy.{key}"] for key in BUY_CONDITION_KEYS]
    if all(isinstance(dimension, Fixed) and not dimension.value for dimension in buy):
        raise SettingsError(f"{path}: at least one buy condition must be able to be on")
    longest = space.highest("slow_period") + space.highest("signal_period")
    if longest > MAX_WARMUP_BARS:
        raise SettingsError(f"{path}: slow_period + signal_period may reach at most {MAX_WARMUP_BARS}")
