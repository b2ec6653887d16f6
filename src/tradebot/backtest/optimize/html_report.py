"""The optimisation report as one self-contained HTML page (Plotly, its script inlined once).

Four charts under the plain-words verdict: the stitched out-of-sample equity against buy-and-hold,
in-sample against out-of-sample return per fold, the chosen settings across folds (stable values
suggest a real pattern, jumping ones a fit to noise), and every trial's objective in order.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from tradebot.backtest.optimize.document import stitch, trial_rows
from tradebot.backtest.optimize.space import PARAM_KEYS, Range
from tradebot.backtest.optimize.walkforward import OptimizeOutcome
from tradebot.core.models import IntArray

# Enough points for a smooth line on any screen; keeps the page small for a million candles.
POINTS_PER_FOLD = 2_000


def render_report(outcome: OptimizeOutcome, document: dict[str, Any]) -> str:
    """The whole HTML page."""
    summary = document["summary"]
    parts = [
        figure.to_html(full_html=False, include_plotlyjs=index == 0)
        for index, figure in enumerate(report_figures(outcome, document))
    ]
    title = f"tradebot optimize: {summary['market']} {summary['interval']}"
    mode = "walk-forward" if summary["mode"] == "walk_forward" else "in-sample only (no out-of-sample test)"
    objective = summary["search"]["objective"]
    facts = (
        f"{mode}; {summary['folds']} fold(s); objective {objective} on closed trades after fees; "
        f"{summary['candles']:,} candles {summary['first_candle']} .. {summary['last_candle']} (UTC); "
        f"warm-up {summary['warmup_bars']} candles."
    )
    header = (
        f"<h2>{html.escape(title)}</h2>"
        f"<p><b>Verdict:</b> {html.escape(summary['verdict'])}</p><p>{html.escape(facts)}</p>"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body>{header}{''.join(parts)}</body></html>\n"
    )


def report_figures(outcome: OptimizeOutcome, document: dict[str, Any]) -> list[go.Figure]:
    """The report's charts, in page order (a chart with nothing to show is left out)."""
    figures = [
        _stitched_equity(outcome),
        _returns_per_fold(document),
        _parameter_stability(outcome, document),
        _objective_history(outcome),
    ]
    return [figure for figure in figures if figure is not None]


def _thin(count: int) -> IntArray:
    """Indices of at most POINTS_PER_FOLD evenly spaced points, the last one included."""
    if count <= POINTS_PER_FOLD:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, POINTS_PER_FOLD).astype(np.int64))


def _stitched_equity(outcome: OptimizeOutcome) -> go.Figure | None:
    stitched = stitch(outcome)
    if stitched is None:
        return None
    equity, hold = stitched
    series = outcome.request.series
    times: list[Any] = []
    keep: list[IntArray] = []
    offset = 0
    for fold in outcome.folds:
        if fold.out_of_sample is None:
            continue
        length = fold.out_of_sample.equity.shape[0]
        chosen = _thin(length)
        starts = series.start_ns[fold.fold.train_end : fold.fold.end][chosen].astype("datetime64[ns]")
        labels = np.datetime_as_string(starts, unit="s").tolist()  # Plotly reads ISO text as dates (UTC)
        times.extend([*labels, None])  # None breaks the line between folds
        keep.append(np.append(offset + chosen, -1))
        offset += length
    index = np.concatenate(keep)
    figure = go.Figure()
    for name, values in (("strategy, out-of-sample", equity), ("buy and hold", hold)):
        points = np.where(index >= 0, values[np.maximum(index, 0)], np.nan)
        figure.add_trace(go.Scatter(x=times, y=points, mode="lines", name=name, connectgaps=False))
    figure.update_layout(
        title="Out-of-sample equity of the stitched folds (1.0 = start)", yaxis_title="growth of 1 KRW"
    )
    return figure


def _returns_per_fold(document: dict[str, Any]) -> go.Figure:
    labels = [f"fold {fold['fold']}" for fold in document["folds"]]
    figure = go.Figure()
    for kind, name in (("in_sample", "in-sample"), ("out_of_sample", "out-of-sample")):
        values = [fold[kind]["return"] * 100 if fold[kind] else None for fold in document["folds"]]
        figure.add_trace(go.Bar(x=labels, y=values, name=name))
    figure.update_layout(title="Return per fold, % (in-sample windows are longer)", barmode="group")
    return figure


def _parameter_stability(outcome: OptimizeOutcome, document: dict[str, Any]) -> go.Figure | None:
    """Each searched setting's chosen value per fold, as a share of its searched range."""
    keys = [key for key in PARAM_KEYS if isinstance(outcome.request.space.dimensions[key], Range)]
    folds = [fold for fold in document["folds"] if fold["params"] is not None]
    if not keys or not folds:
        return None
    figure = go.Figure()
    for key in keys:
        dimension = outcome.request.space.dimensions[key]
        if not isinstance(dimension, Range):
            continue
        span = (dimension.high - dimension.low) or 1.0
        values = [fold["params"][key] for fold in folds]
        shares = [(value - dimension.low) / span for value in values]
        figure.add_trace(
            go.Scatter(
                x=[f"fold {fold['fold']}" for fold in folds],
                y=shares,
                mode="lines+markers",
                name=key,
                text=[f"{key} = {value:g}" for value in values],
                hoverinfo="text",
            )
        )
    figure.update_layout(
        title="Chosen settings across folds (0 = low end, 1 = high end of the searched range)",
        yaxis={"range": [-0.05, 1.05]},
    )
    return figure


def _objective_history(outcome: OptimizeOutcome) -> go.Figure:
    rows = trial_rows(outcome)
    figure = go.Figure()
    for fold in sorted({row["fold"] for row in rows}):
        mine = [row for row in rows if row["fold"] == fold and row["value"] is not None]
        for feasible, symbol in ((True, "circle"), (False, "x")):
            chosen = [row for row in mine if row["feasible"] is feasible]
            figure.add_trace(
                go.Scatter(
                    x=[row["trial"] for row in chosen],
                    y=[row["value"] for row in chosen],
                    mode="markers",
                    marker={"symbol": symbol},
                    name=f"fold {fold}, {'feasible' if feasible else 'too few trades'}",
                )
            )
    figure.update_layout(
        title=f"Objective ({outcome.request.settings.objective}) of every trial, in order",
        xaxis_title="trial",
    )
    return figure
