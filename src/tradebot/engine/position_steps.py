"""Small pure steps of the live loop around its trades: the planned entry (with its checks) and
exit (a sale, or a dust write-off), the strategy's view of a position, its age and peak, and
the status wording of an order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from tradebot.core.broker import OrderOutcome, OrderStatus
from tradebot.core.execution import EntryCheck, check_entry, dust_note, is_dust, paper_fill_price
from tradebot.core.indicators import IndicatorState
from tradebot.core.models import Candle
from tradebot.core.params import StrategyParams
from tradebot.core.protections import ActiveProtection
from tradebot.core.strategy import IndicatorSeries, PositionView
from tradebot.engine.order_desk import OrderDesk
from tradebot.engine.settings_watch import Settings
from tradebot.services.records import Position
from tradebot.services.storage import Transaction

NOT_SENT = "not sent: this candle already has that order, or an earlier order is unresolved"


def plan_entry(desk: OrderDesk, price: Decimal, settings: Settings) -> EntryCheck:
    """Budget, expected fill and `below_min_order` / `below_min_exit` of an entry at `price`.

    The expected fill is the price worsened by the current `slippage_bps` in every mode: TEST fills
    exactly there, and LIVE decides as TEST and the backtest would on the same prices.
    """
    fill_price = paper_fill_price(price, "bid", settings.params.slippage_bps)
    return check_entry(desk.holdings().krw, desk.fee_rate, fill_price, settings.params, settings.conditions)


class PlannedExit(NamedTuple):
    """How an exit at the latest price goes: the expected fill, and the dust note ("" to sell)."""

    fill_price: Decimal
    dust: str


def plan_exit(position: Position, price: Decimal, settings: Settings) -> PlannedExit:
    """The sell's expected fill at `price` and whether it is dust (worth under 5,000 KRW there)."""
    fill_price = paper_fill_price(price, "ask", settings.params.slippage_bps)
    volume = position.volume
    return PlannedExit(fill_price, dust_note(volume, fill_price) if is_dust(volume, fill_price) else "")


def position_view(position: Position | None) -> PositionView | None:
    """The strategy's view of a recorded position (raises PositionError without an entry price)."""
    if position is None:
        return None
    entry = position.entry_price if position.entry_price is not None else Decimal("NaN")
    peak = position.peak_price if position.peak_price is not None else entry
    return PositionView(entry, peak, position.bars_held)


def aged(position: Position, candle_start: datetime, now: datetime) -> Position:
    """One more bar held when the candle starting at `candle_start` closed after the entry candle.

    A force buy's entry candle is the one forming when it filled: its own close is not a bar held.
    """
    entry = position.entry_candle_start
    held = position.bars_held + (1 if entry is None or candle_start > entry else 0)
    return replace(position, bars_held=held, updated_at=now)


def with_peak(position: Position, peak: Decimal | None) -> Position:
    """The position with its peak raised to `peak` (the same object when that is no new high)."""
    if peak is None:
        return position
    if position.peak_price is not None and peak <= position.peak_price:
        return position
    return replace(position, peak_price=peak)


def outcome_text(outcome: OrderOutcome | None) -> str:
    """What became of an order, for the status line: `filled at 930 KRW`, `refused (name)`."""
    if outcome is None:
        return NOT_SENT
    if outcome.status is OrderStatus.FILLED and outcome.fill is not None:
        return f"filled at {outcome.fill.price:,} KRW"
    detail = f" ({outcome.error_name})" if outcome.error_name else ""
    return f"{outcome.status.value}{detail}"


def override_note(reason: str, overridden: tuple[ActiveProtection, ...]) -> str:
    """A force buy's audit note: the user's reason, and each protection it overrides."""
    if not overridden:
        return reason
    overrides = "; ".join(f"overrides {protection.describe()}" for protection in overridden)
    return f"{reason} ({overrides})" if reason else overrides


def record_nothing(transaction: Transaction) -> None:
    """What a force command writes with its order besides the order itself: nothing."""


def is_stale(candle: Candle, interval: timedelta, exchange_now: datetime, limit_intervals: int) -> bool:
    """An entry signal from a candle that closed over `limit_intervals` ago is not traded.

    Catching up after a pause replays every missed candle in order (the position and the
    indicators must follow them), but buying now on an old signal at today's price is not what
    the signal meant. Exits are always executed: they protect money.
    """
    return exchange_now - (candle.start + interval) > limit_intervals * interval


def new_series(params: StrategyParams) -> IndicatorSeries:
    """An empty indicator series with the periods of `params`."""
    return IndicatorSeries(IndicatorState(params.fast_period, params.slow_period, params.signal_period))


def series_over(series: IndicatorSeries, candles: Iterable[Candle]) -> IndicatorSeries:
    """`series` after pushing `candles` in order."""
    for candle in candles:
        series.push(candle)
    return series
