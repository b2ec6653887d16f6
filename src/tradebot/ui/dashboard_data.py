"""What the Dashboard page shows, assembled from one user's database into small typed values.

Pure reading and arithmetic (no Streamlit), so every figure is unit-tested without a browser. The
page reads everything in one `Store.snapshot()`, so the figures of one refresh agree with each other.
Prices for the position value and the unrealised profit come from the latest cached candle, the
last price the engine saw close; the page labels them so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

import numpy as np

from tradebot.core.indicators import macd_arrays
from tradebot.core.krw_rules import DEFAULT_FEE_RATE, MONEY, market_sell_fill, to_decimal
from tradebot.core.models import Candle, FloatArray, Interval
from tradebot.core.params import StrategyParams
from tradebot.core.strategy import exit_levels
from tradebot.services.desired_state import DesiredState, desired_state
from tradebot.services.protection_status import shown_protections
from tradebot.services.records import (
    AccountBalance,
    Command,
    EngineState,
    EngineStatus,
    Mode,
    Position,
    Side,
    StoredOrder,
    TradeAudit,
)
from tradebot.services.storage import Reader, Window

CHART_CANDLES = 150  # candles drawn
INDICATOR_HISTORY = 1000  # candles the MACD is computed over, so the drawn part has converged
AUDIT_LIMIT = 10_000  # trades summed for the realised profit
RECENT_ORDERS = 10
RECENT_COMMANDS = 10
STALE_HEARTBEAT = timedelta(seconds=15)  # three 5-second cycles without a heartbeat
TRADING_STATES: frozenset[EngineState] = frozenset({"running", "paused", "warming_up"})
STATE_LABELS: dict[EngineState, str] = {
    "running": "running",
    "paused": "paused",
    "warming_up": "warming up",
    "failed": "failed",
    "stopped": "stopped",
}


@dataclass(frozen=True, slots=True)
class EngineView:
    """The engine's state for this user, and what the user last asked for."""

    state: EngineState | None  # None: no engine ever ran for this user
    mode: Mode
    heartbeat_age: timedelta | None
    last_error: str | None
    desired: DesiredState

    @property
    def label(self) -> str:
        """'running', 'paused', 'warming up', 'failed', 'stopped' or 'never started'."""
        return "never started" if self.state is None else STATE_LABELS[self.state]

    @property
    def trading(self) -> bool:
        """A loop is (said to be) trading for the user."""
        return self.state in TRADING_STATES

    @property
    def stale(self) -> bool:
        """A trading state whose heartbeat is too old: the engine may have died."""
        return self.trading and (self.heartbeat_age is None or self.heartbeat_age > STALE_HEARTBEAT)


@dataclass(frozen=True, slots=True)
class Holding:
    """The open position of the mode shown."""

    market: str
    volume: Decimal
    entry_price: Decimal | None
    peak_price: Decimal | None
    bars_held: int


@dataclass(frozen=True, slots=True)
class ProfitFigures:
    """Money of the mode shown; None where it is not known (no account row, no price yet)."""

    mode: Mode
    krw: Decimal | None
    starting_krw: Decimal | None
    holding: Holding | None
    latest_price: Decimal | None
    latest_price_at: datetime | None  # the close time of the candle the price comes from
    position_value: Decimal | None
    unrealised_profit: Decimal | None  # after both fees, if sold at `latest_price`
    realised_profit: Decimal
    equity: Decimal | None
    return_since_start: Decimal | None  # a fraction: 0.05 = +5%


@dataclass(frozen=True, slots=True)
class ExitLines:
    """Prices drawn across the chart while a position is open."""

    entry: float
    take_profit: float
    stop_loss: float
    trailing_stop: float


@dataclass(frozen=True, slots=True)
class TradeMarker:
    """One executed trade on the chart."""

    time: datetime
    price: float
    side: Side
    label: str


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """Candles and MACD of the drawn window, as plain arrays of equal length."""

    times: list[datetime]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    macd: FloatArray
    signal: FloatArray
    hist: FloatArray

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class LatestSignal:
    """The newest buy or sell evaluation: what the strategy decided last, and why."""

    kind: Literal["buy", "sell"]
    candle_start: datetime
    evaluated_at: datetime
    decision: str
    reason: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class DashboardData:
    """Everything one refresh of the Dashboard shows."""

    market: str
    interval: Interval
    engine: EngineView
    figures: ProfitFigures
    exit_lines: ExitLines | None
    chart: ChartSeries
    markers: list[TradeMarker]
    latest_signal: LatestSignal | None
    recent_orders: list[StoredOrder]
    commands: list[Command]
    other_markets: list[str] = field(default_factory=list)  # positions outside the params' market
    protections: tuple[str, ...] = ()  # protections blocking entries now, and until when


def shown_mode(status: EngineStatus | None, desired: DesiredState) -> Mode:
    """The mode whose money is shown: the loop's while it runs, else the one last asked for."""
    if status is not None and status.state != "stopped":
        return status.mode
    return desired.mode


def engine_view(status: EngineStatus | None, desired: DesiredState, now: datetime) -> EngineView:
    """The engine's state as the page describes it."""
    return EngineView(
        state=None if status is None else status.state,
        mode=shown_mode(status, desired),
        heartbeat_age=None if status is None else now - status.heartbeat_at,
        last_error=None if status is None else status.last_error,
        desired=desired,
    )


def load_dashboard(reader: Reader, params: StrategyParams, now: datetime) -> DashboardData:
    """Read and compute the Dashboard's content for the params' market and interval."""
    engine = engine_view(reader.engine_status(), desired_state(reader), now)
    mode = engine.mode
    history = reader.candles(params.market, params.interval, Window(limit=INDICATOR_HISTORY))
    chart = chart_series(history, params)
    positions = reader.positions(mode)
    position = next((item for item in positions if item.market == params.market), None)
    if position is None and positions:
        position = positions[0]
    audits = [audit for audit in reader.trade_audits(AUDIT_LIMIT) if audit.mode == mode]
    latest = None  # the price the position is valued at
    if position is not None and position.market == params.market:
        latest = history[-1] if history else None
    elif position is not None:
        latest = latest_candle(reader, position.market, params.interval)
    figures = profit_figures(mode, reader.account(mode), position, latest, params.interval, audits)
    first_drawn = chart.times[0] if chart.times else None
    return DashboardData(
        market=params.market,
        interval=params.interval,
        engine=engine,
        figures=figures,
        exit_lines=exit_lines(position, figures.latest_price, params),
        chart=chart,
        markers=trade_markers(audits, params.market, first_drawn),
        latest_signal=latest_signal(reader, params.market, params.interval),
        recent_orders=recent_orders(reader, mode, audits),
        commands=reader.recent_commands(limit=RECENT_COMMANDS),
        other_markets=[item.market for item in positions if item.market != params.market],
        protections=shown_protections(reader, mode),
    )


def latest_candle(reader: Reader, market: str, interval: Interval) -> Candle | None:
    """The newest cached candle of `market`, if any."""
    candles = reader.candles(market, interval, Window(limit=1))
    return candles[-1] if candles else None


def chart_series(candles: list[Candle], params: StrategyParams, drawn: int = CHART_CANDLES) -> ChartSeries:
    """The last `drawn` candles with MACD, signal and histogram computed over all of `candles`."""
    close = np.array([candle.close for candle in candles], dtype=np.float64)
    lines = macd_arrays(close, params.fast_period, params.slow_period, params.signal_period)
    tail = candles[-drawn:]
    cut = len(candles) - len(tail)

    def column(name: str) -> FloatArray:
        return np.array([getattr(candle, name) for candle in tail], dtype=np.float64)

    return ChartSeries(
        times=[candle.start for candle in tail],
        open=column("open"),
        high=column("high"),
        low=column("low"),
        close=close[cut:],
        macd=lines.macd[cut:],
        signal=lines.signal[cut:],
        hist=lines.hist[cut:],
    )


def profit_figures(
    mode: Mode,
    account: AccountBalance | None,
    position: Position | None,
    latest: Candle | None,
    interval: Interval,
    audits: list[TradeAudit],
) -> ProfitFigures:
    """KRW, position value, unrealised and realised profit and the return since the start."""
    price = None if latest is None else to_decimal(latest.close)
    holding = None if position is None else _holding(position)
    value = None if holding is None or price is None else MONEY.multiply(holding.volume, price)
    krw = None if account is None else account.krw_balance
    equity = None
    if krw is not None and (holding is None or value is not None):
        equity = krw + (value or Decimal(0))
    starting = None if account is None else account.starting_krw
    growth = None if equity is None or not starting else (equity - starting) / starting
    return ProfitFigures(
        mode=mode,
        krw=krw,
        starting_krw=starting,
        holding=holding,
        latest_price=price,
        latest_price_at=None if latest is None else latest.start + interval.duration,
        position_value=value,
        unrealised_profit=unrealised_profit(holding, price),
        realised_profit=sum((audit.realised_profit or Decimal(0) for audit in audits), Decimal(0)),
        equity=equity,
        return_since_start=growth,
    )


def unrealised_profit(
    holding: Holding | None, price: Decimal | None, fee_rate: Decimal = DEFAULT_FEE_RATE
) -> Decimal | None:
    """KRW a market sell at `price` would gain after both fees (the realised-profit arithmetic)."""
    if holding is None or price is None or holding.entry_price is None:
        return None
    proceeds = market_sell_fill(holding.volume, price, fee_rate).krw_delta
    cost = MONEY.multiply(holding.volume, holding.entry_price)
    return proceeds - cost - MONEY.multiply(cost, fee_rate)


def exit_lines(position: Position | None, price: Decimal | None, params: StrategyParams) -> ExitLines | None:
    """Entry, take-profit, stop-loss and trailing-stop prices of an open position in the params' market."""
    if position is None or position.market != params.market or position.entry_price is None:
        return None
    entry = position.entry_price
    # The peak as the engine's every-cycle check takes it: never below the entry or the price.
    candidates = [entry, position.peak_price or entry] + ([price] if price else [])
    levels = exit_levels(entry, max(candidates), params)
    return ExitLines(
        entry=float(entry),
        take_profit=float(levels.take_profit),
        stop_loss=float(levels.stop_loss),
        trailing_stop=float(levels.trailing_stop),
    )


def trade_markers(audits: list[TradeAudit], market: str, since: datetime | None) -> list[TradeMarker]:
    """Buy and sell markers of the trades in `market` executed from `since` on."""
    return [
        TradeMarker(
            time=audit.executed_at,
            price=float(audit.fill_price),
            side=audit.side,
            label=f"{'buy' if audit.side == 'bid' else 'sell'} ({audit.rule or audit.cause})",
        )
        for audit in audits
        if audit.market == market and (since is None or audit.executed_at >= since)
    ]


def latest_signal(reader: Reader, market: str, interval: Interval) -> LatestSignal | None:
    """The newest of the latest buy and sell evaluations."""
    newest = Window(limit=1)
    found = [
        LatestSignal("buy", row.candle_start, row.evaluated_at, str(row.decision), row.reason, row.price)
        for row in reader.buy_evaluations(market, interval, newest)
    ] + [
        LatestSignal("sell", row.candle_start, row.evaluated_at, str(row.decision), row.reason, row.price)
        for row in reader.sell_evaluations(market, interval, newest)
    ]
    return max(found, key=lambda signal: (signal.evaluated_at, signal.candle_start), default=None)


def recent_orders(
    reader: Reader, mode: Mode, audits: list[TradeAudit], limit: int = RECENT_ORDERS
) -> list[StoredOrder]:
    """Orders still open plus the orders of the latest trades, newest first."""
    found = {order.identifier: order for order in reader.unfinished_orders(mode)}
    for audit in reversed(audits):
        if len(found) >= limit:
            break
        if audit.order_identifier and audit.order_identifier not in found:
            order = reader.order(audit.order_identifier)
            if order is not None:
                found[order.identifier] = order
    ordered = sorted(found.values(), key=lambda order: order.requested_at, reverse=True)
    return ordered[:limit]


def _holding(position: Position) -> Holding:
    return Holding(
        market=position.market,
        volume=position.volume,
        entry_price=position.entry_price,
        peak_price=position.peak_price,
        bars_held=position.bars_held,
    )
