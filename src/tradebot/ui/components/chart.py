"""The Dashboard's chart: candles with trade markers and exit levels above, MACD below.

`build_chart` is a pure function of plain data (no Streamlit, no database), so the figure is
unit-tested; the page only hands it to `st.plotly_chart`.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradebot.ui.dashboard_data import ChartSeries, ExitLines, TradeMarker

RISING, FALLING = "#d24f45", "#1261c4"  # Upbit's colours: red up, blue down
MACD_COLOUR, SIGNAL_COLOUR = "#ff9f1c", "#6a4c93"
LEVEL_STYLES = {  # name -> (colour, dash, label position: stop and trailing are often close together)
    "Entry": ("#555555", "solid", "top left"),
    "Take profit": ("#2a9d8f", "dash", "top left"),
    "Stop loss": ("#e63946", "dash", "bottom left"),
    "Trailing stop": ("#f4a261", "dot", "top right"),
}
MARKER_STYLES = {"bid": ("Buy", "triangle-up", RISING), "ask": ("Sell", "triangle-down", FALLING)}


def build_chart(
    series: ChartSeries, markers: Sequence[TradeMarker], lines: ExitLines | None, title: str
) -> go.Figure:
    """Candlesticks, buy/sell markers and (while a position is open) entry/TP/SL/trailing lines in
    the upper panel; MACD, signal and histogram in the lower one."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.7, 0.3])
    figure.add_trace(
        go.Candlestick(
            x=series.times, open=series.open, high=series.high, low=series.low, close=series.close,
            name="Price", increasing_line_color=RISING, decreasing_line_color=FALLING,
        ),
        row=1, col=1,
    )  # fmt: skip
    for side in ("bid", "ask"):
        _add_markers(figure, [marker for marker in markers if marker.side == side], side)
    if lines is not None:
        _add_levels(figure, lines)
    _add_macd(figure, series)
    figure.update_layout(
        title={"text": title, "x": 0, "y": 0.99, "yanchor": "top"},
        height=640,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        xaxis_rangeslider_visible=False,
        legend={"orientation": "h", "y": 1.01, "x": 0, "yanchor": "bottom"},
        uirevision="keep",  # refreshes keep the user's zoom
    )
    figure.update_yaxes(title_text="KRW", row=1, col=1)
    figure.update_yaxes(title_text="MACD", row=2, col=1)
    return figure


def _add_markers(figure: go.Figure, markers: Sequence[TradeMarker], side: str) -> None:
    if not markers:
        return
    name, symbol, colour = MARKER_STYLES[side]
    figure.add_trace(
        go.Scatter(
            x=[marker.time for marker in markers], y=[marker.price for marker in markers],
            mode="markers", name=name, text=[marker.label for marker in markers],
            marker={"symbol": symbol, "size": 12, "color": colour, "line": {"width": 1, "color": "#000"}},
            hovertemplate="%{text}<br>%{y:,.0f} KRW<br>%{x}<extra></extra>",
        ),
        row=1, col=1,
    )  # fmt: skip


def _add_levels(figure: go.Figure, lines: ExitLines) -> None:
    prices = {
        "Entry": lines.entry,
        "Take profit": lines.take_profit,
        "Stop loss": lines.stop_loss,
        "Trailing stop": lines.trailing_stop,
    }
    for name, price in prices.items():
        colour, dash, position = LEVEL_STYLES[name]
        figure.add_hline(
            y=price, line={"color": colour, "dash": dash, "width": 1}, row=1, col=1,
            annotation_text=f"{name} {price:,.0f}", annotation_position=position,
            annotation_font_color=colour, name=name,
        )  # fmt: skip


def _add_macd(figure: go.Figure, series: ChartSeries) -> None:
    colours = [RISING if value >= 0 else FALLING for value in series.hist]
    figure.add_trace(
        go.Bar(x=series.times, y=series.hist, name="Histogram", marker_color=colours, opacity=0.6),
        row=2, col=1,
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(x=series.times, y=series.macd, name="MACD", line={"color": MACD_COLOUR, "width": 1.5}),
        row=2, col=1,
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=series.times, y=series.signal, name="Signal", line={"color": SIGNAL_COLOUR, "width": 1.5}
        ),
        row=2, col=1,
    )  # fmt: skip
