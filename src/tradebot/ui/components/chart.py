"""The Dashboard's chart: candles with trade markers and exit levels above, MACD below.

`build_chart` is a pure function of plain data (no Streamlit, no database), so the figure is
unit-tested; the page only hands it to `st.plotly_chart`.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradebot.core.i18n import Language, text
from tradebot.ui.dashboard_data import ChartSeries, ExitLines, TradeMarker

RISING, FALLING = "#d24f45", "#1261c4"  # Upbit's colours: red up, blue down
MACD_COLOUR, SIGNAL_COLOUR = "#ff9f1c", "#6a4c93"
LEVEL_STYLES = {  # key -> (colour, dash, label position: stop and trailing are often close together)
    "entry": ("#555555", "solid", "top left"),
    "take_profit": ("#2a9d8f", "dash", "top left"),
    "stop_loss": ("#e63946", "dash", "bottom left"),
    "trailing_stop": ("#f4a261", "dot", "top right"),
}
MARKER_STYLES = {"bid": ("buy", "triangle-up", RISING), "ask": ("sell", "triangle-down", FALLING)}


def build_chart(
    series: ChartSeries,
    markers: Sequence[TradeMarker],
    lines: ExitLines | None,
    title: str,
    language: Language = "en",
) -> go.Figure:
    """Candlesticks, buy/sell markers and (while a position is open) entry/TP/SL/trailing lines in
    the upper panel; MACD, signal and histogram in the lower one; legends in `language`."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.7, 0.3])
    figure.add_trace(
        go.Candlestick(
            x=series.times, open=series.open, high=series.high, low=series.low, close=series.close,
            name=text("chart.price", language), increasing_line_color=RISING, decreasing_line_color=FALLING,
        ),
        row=1, col=1,
    )  # fmt: skip
    for side in ("bid", "ask"):
        _add_markers(figure, [marker for marker in markers if marker.side == side], side, language)
    if lines is not None:
        _add_levels(figure, lines, language)
    _add_macd(figure, series, language)
    figure.update_layout(
        title={"text": title, "x": 0, "y": 0.99, "yanchor": "top"},
        height=640,
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        xaxis_rangeslider_visible=False,
        legend={"orientation": "h", "y": 1.01, "x": 0, "yanchor": "bottom"},
        uirevision="keep",  # refreshes keep the user's zoom
    )
    figure.update_yaxes(title_text=text("chart.krw", language), row=1, col=1)
    figure.update_yaxes(title_text="MACD", row=2, col=1)
    return figure


def _add_markers(figure: go.Figure, markers: Sequence[TradeMarker], side: str, language: Language) -> None:
    if not markers:
        return
    key, symbol, colour = MARKER_STYLES[side]
    name = text(f"chart.{key}", language)
    figure.add_trace(
        go.Scatter(
            x=[marker.time for marker in markers], y=[marker.price for marker in markers],
            mode="markers", name=name, text=[marker.label for marker in markers],
            marker={"symbol": symbol, "size": 12, "color": colour, "line": {"width": 1, "color": "#000"}},
            hovertemplate=f"%{{text}}<br>%{{y:,.0f}} {text('chart.krw', language)}<br>%{{x}}<extra></extra>",
        ),
        row=1, col=1,
    )  # fmt: skip


def _add_levels(figure: go.Figure, lines: ExitLines, language: Language) -> None:
    prices = {
        "entry": lines.entry,
        "take_profit": lines.take_profit,
        "stop_loss": lines.stop_loss,
        "trailing_stop": lines.trailing_stop,
    }
    for key, price in prices.items():
        colour, dash, position = LEVEL_STYLES[key]
        name = text(f"chart.{key}", language)
        figure.add_hline(
            y=price, line={"color": colour, "dash": dash, "width": 1}, row=1, col=1,
            annotation_text=f"{name} {price:,.0f}", annotation_position=position,
            annotation_font_color=colour, name=name,
        )  # fmt: skip


def _add_macd(figure: go.Figure, series: ChartSeries, language: Language) -> None:
    colours = [RISING if value >= 0 else FALLING for value in series.hist]
    figure.add_trace(
        go.Bar(
            x=series.times, y=series.hist, name=text("chart.histogram", language),
            marker_color=colours, opacity=0.6,
        ),
        row=2, col=1,
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(x=series.times, y=series.macd, name="MACD", line={"color": MACD_COLOUR, "width": 1.5}),
        row=2, col=1,
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=series.times, y=series.signal, name=text("chart.signal", language),
            line={"color": SIGNAL_COLOUR, "width": 1.5},
        ),
        row=2, col=1,
    )  # fmt: skip
