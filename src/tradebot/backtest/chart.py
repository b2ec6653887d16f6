"""A self-contained HTML chart of a backtest: price with trade markers, and equity.

Plain SVG, no JavaScript and no download, so it opens anywhere and costs milliseconds even for
a million candles: each line is reduced to the low and high of every horizontal pixel column.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from tradebot.backtest.execution import Trade
from tradebot.core.models import CandleSeries, FloatArray, isoformat_utc

WIDTH, PANEL_HEIGHT, MARGIN = 1100, 300, 60
COLUMNS = WIDTH - 2 * MARGIN
MARKER_LIMIT = 4000


def _envelope(values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Low and high of `values` in each of COLUMNS equal slices (fewer if there are few values)."""
    edges = np.linspace(0, values.shape[0], min(COLUMNS, values.shape[0]) + 1).astype(np.int64)
    starts = edges[:-1]
    return np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)


def _polyline(values: FloatArray, top: float, low: float, high: float, colour: str) -> str:
    lows, highs = _envelope(values)
    span = (high - low) or 1.0
    xs = MARGIN + np.arange(lows.shape[0]) * (COLUMNS / max(lows.shape[0] - 1, 1))
    points = []
    for x, bottom_value, top_value in zip(xs, lows, highs, strict=True):
        for value in (bottom_value, top_value):
            y = top + PANEL_HEIGHT * (1 - (value - low) / span)
            points.append(f"{x:.1f},{y:.1f}")
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1" points="{" ".join(points)}"/>'


def _markers(series: CandleSeries, trades: list[Trade], top: float, low: float, high: float) -> str:
    count, span = len(series), (high - low) or 1.0
    shapes = []
    for trade in trades[:MARKER_LIMIT]:
        events = [(trade.entry_index, "#1a7f37", "buy")]
        if trade.exit_index is not None:
            events.append((trade.exit_index, "#cf222e", f"sell: {trade.exit_reason}"))
        for index, colour, label in events:
            x = MARGIN + COLUMNS * index / max(count - 1, 1)
            y = top + PANEL_HEIGHT * (1 - (float(series.close[index]) - low) / span)
            when = isoformat_utc(int(series.start_ns[index]))
            shapes.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                f"<title>{html.escape(label)} {when}</title></circle>"
            )
    return "".join(shapes)


def _panel(title: str, values: FloatArray, top: float, colour: str, extra: str = "") -> str:
    low, high = float(values.min()), float(values.max())
    labels = (
        f'<text x="{MARGIN}" y="{top - 8}" font-weight="bold">{html.escape(title)}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{top + 12}" text-anchor="end">{high:,.2f}</text>'
        f'<text x="{WIDTH - MARGIN}" y="{top + PANEL_HEIGHT}" text-anchor="end">{low:,.2f}</text>'
        f'<rect x="{MARGIN}" y="{top}" width="{COLUMNS}" height="{PANEL_HEIGHT}" fill="none" stroke="#ccc"/>'
    )
    return labels + _polyline(values, top, low, high, colour) + extra


def render_chart(
    series: CandleSeries, trades: list[Trade], equity: FloatArray, summary: dict[str, Any]
) -> str:
    """The whole HTML page."""
    price_top, equity_top = 40.0, 40.0 + PANEL_HEIGHT + 70
    close_low, close_high = float(series.close.min()), float(series.close.max())
    markers = _markers(series, trades, price_top, close_low, close_high)
    height = int(equity_top + PANEL_HEIGHT + 40)
    title = (
        f"{summary['market']} {summary['interval']} backtest: return {summary['return']:.2%}, "
        f"{summary['trades']} trades, max drawdown {summary['max_drawdown']:.2%}"
    )
    dates = f"{summary['first_candle']} .. {summary['last_candle']} (candle starts, UTC)"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        + _panel("Close (KRW) with buys (green) and sells (red)", series.close, price_top, "#0969da", markers)
        + _panel("Equity (KRW)", equity, equity_top, "#8250df")
        + f'<text x="{MARGIN}" y="{height - 10}">{html.escape(dates)}</text></svg>'
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h3>{html.escape(title)}</h3>{svg}</body></html>\n"
    )
