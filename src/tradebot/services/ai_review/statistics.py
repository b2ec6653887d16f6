"""The daily / weekly review's numbers, computed locally from the user's database.

Trades are the `trade_audit` rows executed in the period; evaluations are the `buy_eval` /
`sell_eval` rows whose candle started in it. A closed trade is a sell with a realised profit; it
is won when that profit (after both fees) is above zero. Only these numbers and the settings in
force are sent to the model, never the rows themselves.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tradebot.core.params import BUY_CONDITION_KEYS, SELL_CONDITION_KEYS
from tradebot.services.ai_review.prompts import parse_conditions, parse_params
from tradebot.services.records import TradeAudit
from tradebot.services.storage import Reader
from tradebot.services.storage.codecs import decode_record, encode_time

RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewStatistics:
    """What happened in one period, as the review shows it and sends it."""

    period_start: datetime
    period_end: datetime
    days: int
    markets: list[str]
    buys: int
    sells: int
    closed_trades: int
    wins: int
    losses: int
    win_rate: Decimal | None  # wins / closed trades; None without closed trades
    realised_profit_krw: Decimal
    fees_krw: Decimal
    causes: dict[str, int]  # strategy, force, recovery, manual
    exit_rules: dict[str, int]  # which rule closed each strategy sell
    buy_evaluations: int
    buy_signals: int
    failed_buy_conditions: dict[str, int]  # enabled and failed, per condition
    sell_evaluations: int
    sell_rules_held: dict[str, int]  # enabled and held, per rule (close and tick evaluations)
    parameters: dict[str, object] | None
    conditions: dict[str, object] | None

    def as_document(self) -> dict[str, object]:
        """The statistics as a mapping (for the prompt and for display)."""
        return asdict(self)


def review_statistics(reader: Reader, end: datetime, days: int) -> ReviewStatistics:
    """The statistics of the `days` days before `end`."""
    start = end - timedelta(days=days)
    bounds = (encode_time(start), encode_time(end))
    trades = [
        decode_record(TradeAudit, row)
        for row in reader.query(
            "SELECT * FROM trade_audit WHERE executed_at >= ? AND executed_at < ? ORDER BY executed_at, id",
            bounds,
        )
    ]
    closed = [
        trade.realised_profit for trade in trades if trade.side == "ask" and trade.realised_profit is not None
    ]
    wins = sum(1 for profit in closed if profit > 0)
    buy_total, buy_signals, failed = _condition_counts(
        reader, "buy_eval", "conditions", BUY_CONDITION_KEYS, bounds
    )
    sell_total, _, held = _condition_counts(
        reader, "sell_eval", "rules", SELL_CONDITION_KEYS, bounds, passed=1
    )
    params, conditions = _settings_in_force(reader)
    return ReviewStatistics(
        period_start=start,
        period_end=end,
        days=days,
        markets=sorted({trade.market for trade in trades}),
        buys=sum(1 for trade in trades if trade.side == "bid"),
        sells=sum(1 for trade in trades if trade.side == "ask"),
        closed_trades=len(closed),
        wins=wins,
        losses=len(closed) - wins,
        win_rate=(Decimal(wins) / len(closed)).quantize(RATE_PLACES) if closed else None,
        realised_profit_krw=sum(closed, Decimal(0)),
        fees_krw=sum((trade.fee for trade in trades), Decimal(0)),
        causes=dict(Counter(trade.cause for trade in trades)),
        exit_rules=dict(Counter(trade.rule or "unknown" for trade in trades if trade.side == "ask")),
        buy_evaluations=buy_total,
        buy_signals=buy_signals,
        failed_buy_conditions=failed,
        sell_evaluations=sell_total,
        sell_rules_held=held,
        parameters=params,
        conditions=conditions,
    )


def _condition_counts(
    reader: Reader,
    table: str,
    column: str,
    keys: tuple[str, ...],
    bounds: tuple[int, int],
    passed: int = 0,
) -> tuple[int, int, dict[str, int]]:
    # Aggregated in SQL: a week of one-minute candles is 10,000 rows that need not become objects.
    # `table`, `column` and `keys` are fixed names from this module and core.params, never input.
    counts = ", ".join(
        f"COALESCE(SUM(json_extract({column}, '$.{key}.enabled') = 1 "
        f"AND json_extract({column}, '$.{key}.passed') = {passed:d}), 0)"
        for key in keys
    )
    sql = (
        f"SELECT COUNT(*), COALESCE(SUM(decision <> 'hold'), 0), {counts} FROM {table} "  # noqa: S608
        "WHERE candle_start >= ? AND candle_start < ?"
    )
    row = reader.query(sql, bounds)[0]
    by_key = {key: int(row[index + 2]) for index, key in enumerate(keys) if row[index + 2]}
    return int(row[0]), int(row[1]), by_key


def _settings_in_force(reader: Reader) -> tuple[dict[str, object] | None, dict[str, object] | None]:
    params = parse_params(reader.latest_settings("params"))
    conditions = parse_conditions(reader.latest_settings("conditions"))
    return (
        params.model_dump(mode="json") if params is not None else None,
        conditions.model_dump(mode="json") if conditions is not None else None,
    )
