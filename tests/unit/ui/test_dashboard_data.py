"""ui.dashboard_data: the Dashboard's figures, levels, markers and lists, read from a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.unit.ui.dashboard_fixtures import (
    FIRST_CANDLE,
    buy_evaluation,
    candle_start,
    open_position,
    opened,
    record_trade,
    rising_candles,
    save_candles,
    save_evaluations,
    sell_evaluation,
    set_account,
    set_engine,
)
from tradebot.core.indicators import macd_arrays
from tradebot.core.params import StrategyParams
from tradebot.core.strategy import exit_levels
from tradebot.services.desired_state import DesiredState
from tradebot.services.records import EngineStatus
from tradebot.services.user_admin import create_user
from tradebot.ui.dashboard_data import (
    DashboardData,
    engine_view,
    load_dashboard,
    shown_mode,
)

NOW = datetime(2026, 3, 2, tzinfo=UTC)
PARAMS = StrategyParams()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory with user alice (no login: no bcrypt cost)."""
    create_user(tmp_path, "alice", None, FIRST_CANDLE)
    return tmp_path


def load(home: Path, params: StrategyParams = PARAMS, now: datetime = NOW) -> DashboardData:
    with opened(home, "alice") as store, store.snapshot() as reader:
        return load_dashboard(reader, params, now)


def test_load_dashboard_new_user_starting_account_no_position(home: Path) -> None:
    data = load(home)
    assert data.engine.label == "never started"
    assert data.figures.krw == Decimal(1_000_000)
    assert data.figures.holding is None
    assert data.figures.equity == Decimal(1_000_000)
    assert data.figures.return_since_start == 0
    assert data.exit_lines is None
    assert len(data.chart) == 0
    assert data.latest_signal is None
    assert data.recent_orders == []


def test_profit_figures_open_position_valued_at_latest_close_after_fees(home: Path) -> None:
    candles = rising_candles(40)  # last close 100,390,000
    save_candles(home, "alice", candles)
    set_account(home, "alice", Decimal(900_000), Decimal(1_000_000))
    open_position(home, "alice", Decimal("0.001"), Decimal(100_000_000))
    figures = load(home).figures
    assert figures.latest_price == Decimal(100_390_000)
    assert figures.latest_price_at == candles[-1].start + timedelta(minutes=15)
    assert figures.position_value == Decimal("100390.000")
    # sell 100,390 KRW - 0.05% fee = 100,339.805; cost 100,000 + 0.05% = 100,050
    assert figures.unrealised_profit == Decimal("289.80500")
    assert figures.equity == Decimal("1000390.000")
    assert figures.return_since_start == Decimal("0.00039")


def test_profit_figures_realised_profit_sums_shown_mode_only(home: Path) -> None:
    record_trade(home, "alice", "ask", Decimal(101), FIRST_CANDLE, profit=Decimal(1500))
    record_trade(home, "alice", "ask", Decimal(99), FIRST_CANDLE, profit=Decimal(-400))
    record_trade(home, "alice", "ask", Decimal(99), FIRST_CANDLE, profit=Decimal(7777), mode="LIVE")
    assert load(home).figures.realised_profit == Decimal(1100)


def test_exit_lines_use_core_exit_levels_with_stored_peak(home: Path) -> None:
    save_candles(home, "alice", rising_candles(5, first_close=104.0, step=0.5))  # last close 106
    open_position(home, "alice", Decimal(10), Decimal(100), peak=Decimal(110))
    lines = load(home).exit_lines
    expected = exit_levels(Decimal(100), Decimal(110), PARAMS)
    assert lines is not None
    assert (lines.entry, lines.take_profit, lines.stop_loss) == (
        100.0,
        float(expected.take_profit),
        float(expected.stop_loss),
    )
    assert lines.trailing_stop == float(expected.trailing_stop)


def test_exit_lines_price_above_stored_peak_raises_trailing_stop(home: Path) -> None:
    save_candles(home, "alice", rising_candles(5, first_close=110.0, step=2.0))  # last close 118
    open_position(home, "alice", Decimal(10), Decimal(100), peak=Decimal(112))
    lines = load(home).exit_lines
    assert lines is not None
    assert lines.trailing_stop == float(exit_levels(Decimal(100), Decimal(118), PARAMS).trailing_stop)


def test_exit_lines_position_in_other_market_not_drawn_but_reported(home: Path) -> None:
    open_position(home, "alice", Decimal(1), Decimal(3_000_000), market="KRW-ETH")
    data = load(home)
    assert data.exit_lines is None
    assert data.other_markets == ["KRW-ETH"]
    assert data.figures.holding is not None
    assert data.figures.holding.market == "KRW-ETH"


def test_chart_series_macd_computed_over_whole_history_then_cut(home: Path) -> None:
    candles = rising_candles(400, step=-3_000.0)
    save_candles(home, "alice", candles)
    chart = load(home).chart
    closes = np.array([candle.close for candle in candles])
    lines = macd_arrays(closes, PARAMS.fast_period, PARAMS.slow_period, PARAMS.signal_period)
    assert len(chart) == 150
    assert chart.times[0] == candles[250].start
    np.testing.assert_array_equal(chart.macd, lines.macd[250:])
    np.testing.assert_array_equal(chart.hist, lines.hist[250:])


def test_trade_markers_only_this_market_within_drawn_candles(home: Path) -> None:
    save_candles(home, "alice", rising_candles(200))
    drawn_from = candle_start(50)
    record_trade(home, "alice", "bid", Decimal(100), drawn_from - timedelta(minutes=1))  # before the window
    record_trade(home, "alice", "bid", Decimal(101), drawn_from + timedelta(minutes=1))
    record_trade(home, "alice", "ask", Decimal(102), drawn_from + timedelta(hours=1), profit=Decimal(5))
    record_trade(home, "alice", "bid", Decimal(103), drawn_from + timedelta(hours=2), market="KRW-ETH")
    markers = load(home).markers
    assert [(marker.side, marker.price) for marker in markers] == [("bid", 101.0), ("ask", 102.0)]
    assert markers[1].label == "sell (stop_loss)"


def test_latest_signal_newest_evaluation_of_buy_and_sell(home: Path) -> None:
    buys = [buy_evaluation(candle_start(1), "old buy", NOW), buy_evaluation(candle_start(2), "no entry", NOW)]
    sells = [sell_evaluation(candle_start(3), "take profit hit", NOW + timedelta(seconds=1))]
    save_evaluations(home, "alice", buys, sells)
    signal = load(home).latest_signal
    assert signal is not None
    assert (signal.kind, signal.decision, signal.reason) == ("sell", "sell", "take profit hit")


def test_recent_orders_newest_first_from_trades(home: Path) -> None:
    record_trade(home, "alice", "bid", Decimal(100), FIRST_CANDLE, identifier="order-1")
    record_trade(home, "alice", "ask", Decimal(101), FIRST_CANDLE + timedelta(hours=1), identifier="order-2")
    orders = load(home).recent_orders
    assert [order.identifier for order in orders] == ["order-2", "order-1"]
    assert orders[0].state == "done"


def test_engine_view_running_with_old_heartbeat_is_stale(home: Path) -> None:
    set_engine(home, "alice", "running", heartbeat_at=NOW - timedelta(seconds=40))
    engine = load(home).engine
    assert (engine.label, engine.trading, engine.stale) == ("running", True, True)
    assert engine.heartbeat_age == timedelta(seconds=40)


def test_engine_view_failed_keeps_reason_and_is_not_stale() -> None:
    status = EngineStatus(
        state="failed", mode="TEST", heartbeat_at=NOW - timedelta(hours=1), last_error="boom"
    )
    engine = engine_view(status, DesiredState(running=True), NOW)
    assert (engine.label, engine.last_error, engine.stale) == ("failed", "boom", False)


def test_shown_mode_running_live_loop_else_desired_mode() -> None:
    live = EngineStatus(state="running", mode="LIVE", heartbeat_at=NOW)
    stopped = EngineStatus(state="stopped", mode="LIVE", heartbeat_at=NOW)
    assert shown_mode(live, DesiredState(mode="TEST")) == "LIVE"
    assert shown_mode(stopped, DesiredState(mode="TEST")) == "TEST"
    assert shown_mode(None, DesiredState(mode="LIVE")) == "LIVE"
