"""Seeded synthetic candles that behave like a KRW market, for tests and benchmarks.

The close follows a random walk whose drift and volatility switch between regimes (up and down
trends, ranges and flat stretches), so MACD crosses come at realistic rates. Everything is
vectorised with numpy, so a million candles take a fraction of a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from tradebot.core.krw_rules import KRW_TICK_TABLE, SMALLEST_TICK
from tradebot.core.models import (
    NANOS_PER_SECOND,
    BoolArray,
    CandleSeries,
    FloatArray,
    IntArray,
    Interval,
    datetime_to_nanos,
)

DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
ANNUAL_VOLATILITY = 0.6  # roughly KRW-BTC's; scaled down to one candle by sqrt(time)
SECONDS_PER_YEAR = 365 * 86_400
TURNOVER_KRW_PER_SECOND = 2_000_000.0  # ~120 M KRW a minute, a busy KRW market

# Tick bands in ascending order for np.searchsorted; index 0 is below the lowest band.
_BAND_BOUNDS = np.array([float(bound) for bound, _ in reversed(KRW_TICK_TABLE)])
_BAND_TICKS = np.array([float(SMALLEST_TICK), *(float(tick) for _, tick in reversed(KRW_TICK_TABLE))])

# Regime kinds and how often each occurs; a flat regime is a stretch where the price stays put.
_UP, _DOWN, _RANGE, _FLAT = range(4)
_KIND_PROBABILITIES = (0.32, 0.32, 0.24, 0.12)
_MIN_REGIME_LENGTH = 10
_MEAN_REGIME_LENGTH = 150.0
_MEAN_FLAT_LENGTH = 12.0


@dataclass(frozen=True, slots=True)
class _Regimes:
    drift: FloatArray  # per-candle mean log return
    volatility: FloatArray  # per-candle standard deviation of the log return
    flat: BoolArray  # per-candle flag: no price movement at all


def generate_candles(
    count: int,
    *,
    interval: Interval = Interval.MINUTE1,
    seed: int = 7,
    start: datetime = DEFAULT_START,
    start_price: float = 50_000_000.0,
    gap_probability: float = 0.0,
) -> CandleSeries:
    """`count` candles of a seeded random walk on the KRW tick grid, starting at `start`.

    Open is the previous close, high/low contain both, volumes are positive. With
    `gap_probability > 0` each interval slot is skipped with that probability, as Upbit omits
    intervals without trades (the price does not move across a gap). Same seed, same candles.
    """
    _check_arguments(count, start, start_price, gap_probability)
    generator = np.random.default_rng(seed)
    sigma = ANNUAL_VOLATILITY * math.sqrt(interval.seconds / SECONDS_PER_YEAR)
    regimes = _regimes(generator, count, sigma)
    shocks = generator.standard_t(4, size=count) / math.sqrt(2.0)  # fat tails, unit variance
    log_returns = np.where(regimes.flat, 0.0, regimes.drift + regimes.volatility * shocks)
    first_open = _snap_to_ticks(np.array([start_price]), np.rint)
    close = _snap_to_ticks(first_open[0] * np.exp(np.cumsum(log_returns)), np.rint)
    open_ = np.concatenate([first_open, close[:-1]])
    high, low = _wicks(generator, open_, close, regimes.volatility * ~regimes.flat)
    volume = _volumes(generator, close, log_returns, regimes, interval, sigma)
    start_ns = _starts(generator, count, interval, start, gap_probability)
    return CandleSeries.checked(start_ns, open_, high, low, close, volume)


def _check_arguments(count: int, start: datetime, start_price: float, gap_probability: float) -> None:
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
        raise ValueError(f"count must be a whole number >= 1, got {count!r}")
    if start.tzinfo is None:
        raise ValueError(f"start must be an aware datetime, got naive {start.isoformat()}")
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"start_price must be a positive number of KRW, got {start_price!r}")
    if not 0.0 <= gap_probability < 1.0:
        raise ValueError(f"gap_probability must be in [0, 1), got {gap_probability!r}")


def tick_sizes(prices: FloatArray) -> FloatArray:
    """KRW price tick for every price, vectorised (same table as `krw_rules.tick_size`)."""
    return np.asarray(_BAND_TICKS[np.searchsorted(_BAND_BOUNDS, prices, side="right")])


def _snap_to_ticks(prices: FloatArray, rounding: np.ufunc) -> FloatArray:
    # rounding is np.rint, np.floor or np.ceil: nearest tick, or the tick below or above.
    ticks = tick_sizes(prices)
    # Sub-KRW ticks are powers of ten: dividing by the exact integer 10**k gives the double
    # nearest to the decimal price, whose repr is that decimal (so is_on_tick agrees).
    per_krw = np.where(ticks < 1, np.round(1 / ticks), 1.0)
    tick_krw = np.where(ticks < 1, 1.0, ticks)
    steps = np.maximum(rounding(prices * per_krw / tick_krw), 1.0)
    return np.asarray(steps * tick_krw / per_krw)


def _regimes(generator: np.random.Generator, count: int, sigma: float) -> _Regimes:
    # Every regime lasts at least _MIN_REGIME_LENGTH candles, so this many always cover count.
    regime_count = count // _MIN_REGIME_LENGTH + 1
    kinds = generator.choice(4, size=regime_count, p=_KIND_PROBABILITIES)
    mean_lengths = np.where(kinds == _FLAT, _MEAN_FLAT_LENGTH, _MEAN_REGIME_LENGTH)
    lengths = _MIN_REGIME_LENGTH + generator.geometric(1.0 / mean_lengths)
    direction = np.select([kinds == _UP, kinds == _DOWN], [1.0, -1.0], 0.0)
    drift = direction * generator.uniform(0.03, 0.15, size=regime_count) * sigma
    volatility = generator.lognormal(0.0, 0.35, size=regime_count) * sigma
    used = int(np.searchsorted(np.cumsum(lengths), count)) + 1
    per_candle = np.repeat(np.arange(used), lengths[:used])[:count]
    return _Regimes(drift[per_candle], volatility[per_candle], kinds[per_candle] == _FLAT)


def _wicks(
    generator: np.random.Generator, open_: FloatArray, close: FloatArray, volatility: FloatArray
) -> tuple[FloatArray, FloatArray]:
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    reach = 0.6 * volatility * np.abs(generator.standard_normal((2, close.size)))
    high = np.maximum(_snap_to_ticks(top * (1 + reach[0]), np.ceil), top)
    low = np.minimum(_snap_to_ticks(bottom * (1 - np.minimum(reach[1], 0.5)), np.floor), bottom)
    return high, low


def _volumes(
    generator: np.random.Generator,
    close: FloatArray,
    log_returns: FloatArray,
    regimes: _Regimes,
    interval: Interval,
    sigma: float,
) -> FloatArray:
    # Busier candles move more; flat stretches still trade, just thinly.
    activity = 0.5 + np.abs(log_returns) / sigma
    activity = np.where(regimes.flat, 0.05, activity)
    noise = generator.lognormal(0.0, 0.5, size=close.size)
    turnover = TURNOVER_KRW_PER_SECOND * interval.seconds * activity * noise
    return np.asarray(np.maximum(np.round(turnover / close, 8), 1e-8))


def _starts(
    generator: np.random.Generator,
    count: int,
    interval: Interval,
    start: datetime,
    gap_probability: float,
) -> IntArray:
    slots = np.arange(count, dtype=np.int64)
    if gap_probability > 0:
        # Slots skipped before each kept candle follow a geometric law; the first stays at start.
        skipped = generator.geometric(1.0 - gap_probability, size=count) - 1
        skipped[0] = 0
        slots += np.cumsum(skipped)
    return datetime_to_nanos(start) + slots * (interval.seconds * NANOS_PER_SECOND)
