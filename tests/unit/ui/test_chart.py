"""ui.components.chart: the figure's traces, markers and exit levels, built from plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tradebot.ui.components.chart import build_chart
from tradebot.ui.dashboard_data import ChartSeries, ExitLines, TradeMarker

START = datetime(2026, 3, 1, tzinfo=UTC)
TIMES = [START + timedelta(minutes=15 * index) for index in range(6)]
CLOSE = np.array([100.0, 101.0, 103.0, 102.0, 104.0, 105.0])
SERIES = ChartSeries(
    times=TIMES,
    open=CLOSE - 0.5,
    high=CLOSE + 1.0,
    low=CLOSE - 1.0,
    close=CLOSE,
    macd=np.array([0.0, 0.2, 0.5, 0.4, 0.6, 0.7]),
    signal=np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]),
    hist=np.array([0.0, 0.1, 0.3, 0.1, -0.2, 0.2]),
)
LINES = ExitLines(entry=103.0, take_profit=106.09, stop_loss=100.94, trailing_stop=102.9)


def traces(figure: Any) -> dict[str, Any]:
    return {trace.name: trace for trace in figure.data}


def test_build_chart_candles_above_macd_signal_histogram_below() -> None:
    figure = build_chart(SERIES, [], None, "KRW-BTC")
    by_name = traces(figure)
    assert set(by_name) == {"Price", "Histogram", "MACD", "Signal"}
    price = by_name["Price"]
    assert price.type == "candlestick"
    assert list(price.close) == list(CLOSE)
    assert price.yaxis == "y"
    assert [by_name[name].yaxis for name in ("Histogram", "MACD", "Signal")] == ["y2", "y2", "y2"]
    assert list(by_name["MACD"].y) == list(SERIES.macd)
    assert list(by_name["Histogram"].y) == list(SERIES.hist)


def test_build_chart_trades_split_into_buy_and_sell_markers() -> None:
    markers = [
        TradeMarker(TIMES[1], 101.0, "bid", "buy (entry)"),
        TradeMarker(TIMES[4], 104.0, "ask", "sell (take_profit)"),
        TradeMarker(TIMES[5], 105.0, "bid", "buy (force)"),
    ]
    by_name = traces(build_chart(SERIES, markers, None, "KRW-BTC"))
    buys, sells = by_name["Buy"], by_name["Sell"]
    assert list(buys.y) == [101.0, 105.0]
    assert list(sells.y) == [104.0]
    assert list(sells.text) == ["sell (take_profit)"]
    assert buys.marker.symbol == "triangle-up"
    assert sells.marker.symbol == "triangle-down"


def test_build_chart_open_position_draws_entry_tp_sl_trailing_lines() -> None:
    figure = build_chart(SERIES, [], LINES, "KRW-BTC")
    drawn = {shape.name: shape.y0 for shape in figure.layout.shapes}
    assert drawn == {"Entry": 103.0, "Take profit": 106.09, "Stop loss": 100.94, "Trailing stop": 102.9}
    assert all(shape.yref == "y" for shape in figure.layout.shapes)  # on the price panel
    labels = [annotation.text for annotation in figure.layout.annotations]
    assert "Take profit 106" in labels


def test_build_chart_flat_no_lines_and_no_marker_traces() -> None:
    figure = build_chart(SERIES, [], None, "KRW-BTC")
    assert figure.layout.shapes == ()
    assert "Buy" not in traces(figure)
