"""Strategy parameters and buy/sell conditions: the two settings files of every user.

`StrategyParams` is `{user}_latest_params.json`; `Conditions` is `{user}_buy_sell_conditions.json`.
Each value lives in exactly one of them: thresholds and sizes in the params, on/off switches in the
conditions. All ratios are fractions (0.03 = 3%).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tradebot.core.models import Interval
from tradebot.core.safeguards import SafeguardSettings

MARKET_PATTERN = re.compile(r"^KRW-[A-Z0-9]{1,15}$")

BUY_CONDITION_KEYS: tuple[str, ...] = (
    "golden_cross",
    "macd_positive",
    "signal_positive",
    "bullish_candle",
    "macd_trending_up",
    "above_ma20",
    "above_ma60",
)
PRICE_EXIT_KEYS: tuple[str, ...] = ("stop_loss", "take_profit", "trailing_stop")
INDICATOR_EXIT_KEYS: tuple[str, ...] = ("dead_cross", "macd_negative", "signal_negative")
SELL_CONDITION_KEYS: tuple[str, ...] = PRICE_EXIT_KEYS + INDICATOR_EXIT_KEYS
PROTECTION_KEYS: tuple[str, ...] = (
    "cooldown_bars",
    "max_consecutive_losses",
    "loss_pause_bars",
    "max_daily_loss",
)
# Keys added after settings files were already in use: a file without them loads with the key's
# default (off) and gains the key at its next save. Every other key must be written out.
KEYS_ADDED_LATER: frozenset[str] = frozenset({"safeguards", *PROTECTION_KEYS})


class PriceExitCheck(StrEnum):
    """When the price exits (stop loss, take profit, trailing stop) are checked in live runs."""

    TICK = "tick"
    CLOSE = "close"


Fraction = Annotated[float, Field(allow_inf_nan=False)]

# Upbit sends at most 200 candles a request and 10 candle requests a second per IP, shared by every
# user of one engine: 2,000 bars are 10 pages, and more than the longest indicator the form allows
# needs (slow 1,000 + signal 500). An older settings file with more loads as this many (warm-up
# history is fetched at start, so the first decision comes at the same candle either way).
MAX_WARMUP_BARS = 2_000


class StrategyParams(BaseModel):
    """The MACD strategy's parameters (`{user}_latest_params.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    market: str = Field(
        "KRW-BTC", description="Upbit KRW market code, e.g. KRW-BTC (lower case is normalised)."
    )
    interval: Interval = Field(Interval.MINUTE15, description="Candle interval the strategy trades on.")
    safeguards: SafeguardSettings = Field(
        default_factory=SafeguardSettings,
        description="Upbit market safeguards: which caution flags still allow new entries (none by default).",
    )
    fast_period: int = Field(12, ge=2, le=500, description="Fast EMA length in candles.")
    slow_period: int = Field(26, ge=3, le=1000, description="Slow EMA length; must exceed the fast one.")
    signal_period: int = Field(9, ge=2, le=500, description="Signal-line EMA length in candles.")
    macd_threshold: float = Field(
        0.0,
        ge=-1e12,
        le=1e12,
        allow_inf_nan=False,
        description="Level (in KRW, the MACD's own unit) that the MACD and signal are compared with.",
    )
    take_profit: Fraction = Field(
        0.03, gt=0, le=10, description="Sell when price >= entry x (1 + take_profit). 0.03 = 3%."
    )
    stop_loss: Fraction = Field(
        0.02, gt=0, lt=1, description="Sell when price <= entry x (1 - stop_loss). 0.02 = 2%."
    )
    trailing_stop: Fraction = Field(
        0.02, gt=0, lt=1, description="Sell when price <= peak since entry x (1 - trailing_stop)."
    )
    min_holding_bars: int = Field(
        0, ge=0, le=10_000, description="Closed candles to hold before indicator exits may sell."
    )
    order_ratio: Fraction = Field(
        0.1, gt=0, le=1, description="Share of available KRW spent on one buy, fee reserved on top."
    )
    price_exit_check: PriceExitCheck = Field(
        PriceExitCheck.TICK,
        description="'tick': price exits on the latest price every cycle; 'close': on candle closes only.",
    )
    warmup_bars: int = Field(
        200,
        ge=1,
        le=MAX_WARMUP_BARS,
        description=(
            "Closed candles used to warm up the indicators before the first decision "
            f"(at most {MAX_WARMUP_BARS:,}; applies when the loop restarts)."
        ),
    )
    slippage_bps: float = Field(
        5.0,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="TEST/backtest fills worsened by this many basis points (5 = 0.05%).",
    )

    # Protections (TRADING_RULES.md v2, "Protections"): all 0 = off, so a file written before they
    # existed loads with them off and gains them at its next save.
    cooldown_bars: int = Field(
        0,
        ge=0,
        le=10_000,
        description="After a position closes, no new entry for this many candles (0 = off).",
    )
    max_consecutive_losses: int = Field(
        0,
        ge=0,
        le=1_000,
        description="Pause entries after this many losing trades in a row (0 = off); see loss_pause_bars.",
    )
    loss_pause_bars: int = Field(
        0,
        ge=0,
        le=10_000,
        description="How many candles entries stay paused after max_consecutive_losses losses in a row.",
    )
    max_daily_loss: Fraction = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "No entry for the rest of the KST day once the day's closed trades lost this share of the "
            "equity at the day's start (0.05 = 5%; 0 = off)."
        ),
    )

    @field_validator("market", mode="before")
    @classmethod
    def _normalise_market(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().upper()
            if not MARKET_PATTERN.fullmatch(value):
                raise ValueError(f"{value!r} is not a KRW market code like KRW-BTC")
        return value

    @field_validator("warmup_bars", mode="before")
    @classmethod
    def _clamp_warmup(cls, value: object) -> object:
        # Files saved when the form allowed 100,000 keep loading (docs/TRADING_RULES.md, Warm-up).
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_WARMUP_BARS:
            return MAX_WARMUP_BARS
        return value

    @model_validator(mode="after")
    def _check_periods(self) -> StrategyParams:
        if self.fast_period >= self.slow_period:
            raise ValueError(
                f"slow_period ({self.slow_period}) must be greater than fast_period ({self.fast_period})"
            )
        minimum = self.slow_period + self.signal_period
        if self.warmup_bars < minimum:
            raise ValueError(
                f"warmup_bars ({self.warmup_bars}) must be at least slow_period + signal_period ({minimum})"
            )
        if self.max_consecutive_losses > 0 and self.loss_pause_bars == 0:
            raise ValueError(
                f"loss_pause_bars must be at least 1 when max_consecutive_losses is "
                f"{self.max_consecutive_losses} (a pause of 0 candles would never pause)"
            )
        return self


class BuyConditions(BaseModel):
    """Entry switches: every enabled one must hold, and at least one must be enabled."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    golden_cross: bool = Field(True, description="MACD crosses above its signal line on this candle.")
    macd_positive: bool = Field(False, description="MACD is above macd_threshold.")
    signal_positive: bool = Field(False, description="Signal line is above macd_threshold.")
    bullish_candle: bool = Field(False, description="The candle closed above its open.")
    macd_trending_up: bool = Field(False, description="MACD rose over the last two candles.")
    above_ma20: bool = Field(False, description="Close is above the 20-candle moving average.")
    above_ma60: bool = Field(False, description="Close is above the 60-candle moving average.")

    @model_validator(mode="after")
    def _need_one(self) -> BuyConditions:
        if not any(self.model_dump().values()):
            raise ValueError("at least one buy condition must be enabled")
        return self


class SellConditions(BaseModel):
    """Exit switches, checked in this order; the first enabled rule that holds sells."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    stop_loss: bool = Field(True, description="Price fell to entry x (1 - stop_loss).")
    take_profit: bool = Field(True, description="Price rose to entry x (1 + take_profit).")
    trailing_stop: bool = Field(True, description="Price fell trailing_stop below the peak since entry.")
    dead_cross: bool = Field(True, description="MACD crosses below its signal line (after min_holding_bars).")
    macd_negative: bool = Field(False, description="MACD is below macd_threshold (after min_holding_bars).")
    signal_negative: bool = Field(
        False, description="Signal is below macd_threshold (after min_holding_bars)."
    )


class Conditions(BaseModel):
    """Which buy and sell rules are on (`{user}_buy_sell_conditions.json`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    buy: BuyConditions = Field(default_factory=BuyConditions)
    sell: SellConditions = Field(default_factory=SellConditions)

    def enabled_buy(self) -> tuple[str, ...]:
        """Enabled buy condition keys, in TRADING_RULES.md order."""
        return tuple(key for key in BUY_CONDITION_KEYS if getattr(self.buy, key))

    def enabled_sell(self) -> tuple[str, ...]:
        """Enabled sell rule keys, in the order they are checked."""
        return tuple(key for key in SELL_CONDITION_KEYS if getattr(self.sell, key))


SettingsKind = Literal["params", "conditions"]
