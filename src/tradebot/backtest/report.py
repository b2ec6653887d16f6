"""Turning a replay into what a user reads: summary figures, trade rows, files on disk."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from tradebot.backtest.execution import Trade
from tradebot.backtest.replay import ReplayResult
from tradebot.core.execution import DUST
from tradebot.core.models import CandleSeries, FloatArray, Gap, isoformat_utc
from tradebot.core.params import Conditions, StrategyParams

TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "volume",
    "fee",
    "profit",
    "profit_rate",
    "exit_reason",
    "bars_held",
)
GAPS_LISTED = 20


@dataclass(frozen=True, slots=True)
class BacktestContext:
    """What the report needs besides the replay: the inputs and where they came from."""

    series: CandleSeries
    params: StrategyParams
    conditions: Conditions
    cash: Decimal
    gaps: list[Gap]
    source: dict[str, Any]


def equity_curve(series: CandleSeries, result: ReplayResult, cash: Decimal) -> FloatArray:
    """Account value at every candle close: cash plus the position and any dust marked at the close."""
    event_index: list[int] = []
    cash_after: list[float] = []
    volume_after: list[float] = []
    balance, dust = cash, Decimal(0)
    for trade in result.trades:
        balance += trade.entry.krw_delta
        event_index.append(trade.entry_index)
        cash_after.append(float(balance))
        volume_after.append(float(dust + trade.entry.volume))
        if trade.exit is not None and trade.exit_index is not None:
            balance += trade.exit.krw_delta
            if trade.exit_reason == DUST:  # written off, not sold: the coins stay in the wallet
                dust += trade.exit.volume
            event_index.append(trade.exit_index)
            cash_after.append(float(balance))
            volume_after.append(float(dust))
    slot = np.searchsorted(np.asarray(event_index, dtype=np.int64), np.arange(len(series)), side="right") - 1
    held = slot >= 0
    safe = np.maximum(slot, 0)
    cash_now = np.where(held, np.asarray([*cash_after, 0.0])[safe], float(cash))
    volume_now = np.where(held, np.asarray([*volume_after, 0.0])[safe], 0.0)
    return cash_now + volume_now * series.close


def max_drawdown(equity: FloatArray) -> float:
    """Largest fall from a running peak, as a fraction of that peak (0.25 = 25%)."""
    peaks = np.maximum.accumulate(equity)
    return float(np.max(1.0 - equity / peaks)) if equity.shape[0] else 0.0


def iso_times(series: CandleSeries, indices: list[int]) -> list[str]:
    """Candle starts at `indices` as UTC ISO-8601 strings, converted in one vectorised step."""
    starts = series.start_ns[np.asarray(indices, dtype=np.int64)].astype("datetime64[ns]")
    return [text + "+00:00" for text in np.datetime_as_string(starts, unit="s").tolist()]


def trade_rows(series: CandleSeries, trades: list[Trade]) -> list[dict[str, Any]]:
    """One JSON-ready row per trade; times are candle starts in UTC ISO-8601."""
    entry_times = iso_times(series, [trade.entry_index for trade in trades])
    closed = [trade.exit_index for trade in trades if trade.exit_index is not None]
    exit_times = iter(iso_times(series, closed))
    return [
        _trade_row(trade, entry_time, next(exit_times) if trade.exit_index is not None else None)
        for trade, entry_time in zip(trades, entry_times, strict=True)
    ]


def _trade_row(trade: Trade, entry_time: str, exit_time: str | None) -> dict[str, Any]:
    profit = trade.profit
    cost = -trade.entry.krw_delta
    return {
        "entry_time": entry_time,
        "exit_time": exit_time,
        "entry_price": float(trade.entry.price),
        "exit_price": float(trade.exit.price) if trade.exit else None,
        "volume": float(trade.entry.volume),
        "fee": float(trade.fee),
        "profit": float(profit) if profit is not None else None,
        "profit_rate": float(profit / cost) if profit is not None else None,
        "exit_reason": trade.exit_reason,
        "bars_held": (trade.exit_index - trade.entry_index) if trade.exit_index is not None else None,
    }


def summarise(context: BacktestContext, result: ReplayResult, equity: FloatArray) -> dict[str, Any]:
    """The summary figures of a backtest (see README, Backtest report)."""
    series, cash = context.series, context.cash
    last_close = Decimal(repr(float(series.close[-1])))
    final_equity = result.executor.account.equity(last_close)
    closed = [trade for trade in result.trades if trade.profit is not None]
    wins = sum(1 for trade in closed if trade.profit is not None and trade.profit > 0)
    first_decision = context.params.warmup_bars
    return {
        "market": context.params.market,
        "interval": context.params.interval.value,
        "candles": len(series),
        "first_candle": isoformat_utc(int(series.start_ns[0])),
        "last_candle": isoformat_utc(int(series.start_ns[-1])),
        "first_decision_candle": isoformat_utc(int(series.start_ns[first_decision])),
        "initial_cash": float(cash),
        "final_equity": float(final_equity),
        "final_cash": float(result.executor.account.krw),
        "open_position_volume": float(result.executor.account.volume),
        "dust_volume": float(result.executor.account.dust),
        "return": float(final_equity / cash - 1),
        "trades": len(result.trades),
        "closed_trades": len(closed),
        "wins": wins,
        "win_rate": wins / len(closed) if closed else None,
        "max_drawdown": max_drawdown(equity),
        "fees": float(sum((trade.fee for trade in result.trades), Decimal(0))),
        "buy_and_hold_return": float(series.close[-1] / series.close[first_decision] - 1),
        "exit_reasons": dict(Counter(trade.exit_reason for trade in closed)),
        "skipped_orders": _skipped_rows(series, result),
        "gaps": _gap_summary(context.gaps),
        "source": context.source,
    }


def _skipped_rows(series: CandleSeries, result: ReplayResult) -> list[dict[str, Any]]:
    return [
        {
            "first_time": isoformat_utc(int(series.start_ns[record.first_index])),
            "last_time": isoformat_utc(int(series.start_ns[record.last_index])),
            "side": record.side,
            "reason": record.reason,
            "count": record.count,
        }
        for record in result.skipped.records
    ]


def _gap_summary(gaps: list[Gap]) -> dict[str, Any]:
    return {
        "count": len(gaps),
        "missing_candles": sum(gap.missing for gap in gaps),
        "first": [
            {
                "after": isoformat_utc(gap.after_ns),
                "before": isoformat_utc(gap.before_ns),
                "missing": gap.missing,
            }
            for gap in gaps[:GAPS_LISTED]
        ],
    }


def write_trades_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Trades as CSV, one row per trade, empty cells for an open position's exit."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(TRADE_COLUMNS)
        writer.writerows([["" if row[key] is None else row[key] for key in TRADE_COLUMNS] for row in rows])


def write_json(path: Path, document: object, *, pretty: bool = True) -> None:
    """JSON in UTF-8; `pretty=False` for large documents (the compact encoder is much faster)."""
    text = json.dumps(document, indent=2 if pretty else None, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as aligned text lines for a terminal."""
    win_rate = summary["win_rate"]
    lines = [
        f"Backtest {summary['market']} {summary['interval']}: {summary['candles']:,} candles "
        f"{summary['first_candle']} .. {summary['last_candle']}",
        f"  initial cash        {summary['initial_cash']:>18,.0f} KRW",
        f"  final equity        {summary['final_equity']:>18,.0f} KRW",
        f"  return              {summary['return']:>18.2%}",
        f"  buy and hold        {summary['buy_and_hold_return']:>18.2%}",
        f"  max drawdown        {summary['max_drawdown']:>18.2%}",
        f"  trades              {summary['trades']:>18,}",
        f"  win rate            {'n/a' if win_rate is None else format(win_rate, '.2%'):>18}",
        f"  fees paid           {summary['fees']:>18,.0f} KRW",
        f"  exit reasons        {_counts(summary['exit_reasons']):>18}",
        f"  gaps in data        {summary['gaps']['count']:>18,} "
        f"({summary['gaps']['missing_candles']:,} candles missing)",
    ]
    for skipped in summary["skipped_orders"][:5]:
        lines.append(
            f"  not traded          {skipped['side']} {skipped['reason']} x{skipped['count']} "
            f"from {skipped['first_time']}"
        )
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items())) or "none"
