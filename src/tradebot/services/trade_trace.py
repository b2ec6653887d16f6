"""Why one trade happened, from the audit alone: the trade → reason link (`tradebot why`, issue 13).

A trace joins, for one order (or one `trade_audit` row without an order: a `dust` write-off or a
`manual` row), what the user's database recorded about it:

- the order as sent and as answered (`orders`), and its fill (`trade_audit`);
- the candle the decision was made on (its start in UTC and KST, and the cached candle if any);
- the cause: the strategy's rule, or the force command (who asked and why), or the recovery note;
- for a strategy trade, the evaluation row that decided it (`buy_eval`, or `sell_eval` on a close
  or between closes on a `tick`), with every condition's enabled / passed / value;
- the settings versions in force (`settings_history`) with their parameter values.

Nothing is recomputed and nothing is written: the trace is what the engine recorded when it acted.
An order finished after a restart keeps the intent it was sent with (schema v4 columns of
`orders`), so its trace is the same as if nothing had happened, plus the recovery note. The AI
review (`ai_review.features`) and the Audit Viewer's Trades tab use this module for the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from tradebot.core.models import Candle, Interval
from tradebot.services.records import (
    BuyEvaluation,
    Command,
    Mode,
    SellEvaluation,
    SettingsVersion,
    Side,
    StoredOrder,
    TradeAudit,
    TradeCause,
    TriggerKind,
)
from tradebot.services.storage import Reader, Window
from tradebot.services.storage.codecs import decode_record, encode_time

EvaluationTable = Literal["buy_eval", "sell_eval"]
Evaluation = BuyEvaluation | SellEvaluation
DUST_RULE = "dust"  # the rule of a position written off without an order (TRADING_RULES.md v2)
# Causes whose trade was decided by an evaluation row; a force, a manual row or a legacy
# recovery (an order recorded before schema v4 kept no intent) has none behind it.
EVALUATED_CAUSES: frozenset[TradeCause] = frozenset({"strategy"})
TRIGGER_ORDER: tuple[TriggerKind, ...] = ("tick", "close")  # a price exit between closes sold on a tick


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationKey:
    """Which `buy_eval` / `sell_eval` row: its market, interval, candle start (and trigger, for sells)."""

    market: str
    interval: Interval
    candle_start: datetime
    trigger_kind: TriggerKind = "close"


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeTrace:
    """Everything the audit says about one order or trade row; None where nothing was recorded.

    `trade` is None for an order that never filled (rejected, cancelled, still open); `order` is
    None for a dust write-off or a manual row. The cause fields come from the trade row when there
    is one, otherwise from the order's stored intent (None for an order older than schema v4).
    """

    mode: Mode
    market: str
    side: Side
    interval: Interval | None
    candle_start: datetime | None
    trade_id: int | None
    trade: TradeAudit | None
    order: StoredOrder | None
    cause: TradeCause | None
    rule: str | None
    requested_by: str | None
    note: str | None
    command: Command | None
    evaluation_table: EvaluationTable | None
    evaluation: Evaluation | None
    candle: Candle | None
    params_version: int | None
    conditions_version: int | None
    params: SettingsVersion | None
    conditions: SettingsVersion | None

    @property
    def evaluation_reference(self) -> tuple[EvaluationTable, EvaluationKey] | None:
        """The evaluation row behind the trade as (table, key), for the AI review's explanation."""
        found = self.evaluation
        if found is None or self.evaluation_table is None:
            return None
        trigger: TriggerKind = found.trigger_kind if isinstance(found, SellEvaluation) else "close"
        key = EvaluationKey(
            market=found.market,
            interval=found.interval,
            candle_start=found.candle_start,
            trigger_kind=trigger,
        )
        return self.evaluation_table, key


def trace_order(reader: Reader, identifier: str) -> TradeTrace | None:
    """The trace of the order with this identifier (or Upbit uuid); None if no such order or trade."""
    order = reader.order(identifier) or _order_by_uuid(reader, identifier)
    trade_rows = reader.query(
        "SELECT * FROM trade_audit WHERE order_identifier = ? OR order_uuid = ? ORDER BY id LIMIT 1",
        (order.identifier if order is not None else identifier, identifier),
    )
    if trade_rows:
        return _trace(reader, int(trade_rows[0]["id"]), decode_record(TradeAudit, trade_rows[0]), order)
    return _trace(reader, None, None, order) if order is not None else None


def trace_trade(reader: Reader, trade_id: int) -> TradeTrace | None:
    """The trace of one `trade_audit` row by id (the only handle of a dust write-off or a manual row)."""
    rows = reader.query("SELECT * FROM trade_audit WHERE id = ?", (trade_id,))
    if not rows:
        return None
    trade = decode_record(TradeAudit, rows[0])
    order = reader.order(trade.order_identifier) if trade.order_identifier is not None else None
    return _trace(reader, trade_id, trade, order)


def find_evaluation(reader: Reader, table: EvaluationTable, key: EvaluationKey) -> Evaluation | None:
    """The `buy_eval` / `sell_eval` row `key` names, if it exists."""
    window = Window(start=key.candle_start, end=key.candle_start + timedelta(microseconds=1), limit=2)
    if table == "buy_eval":
        buys = reader.buy_evaluations(key.market, key.interval, window)
        return buys[0] if buys else None
    sells = [
        row
        for row in reader.sell_evaluations(key.market, key.interval, window)
        if row.trigger_kind == key.trigger_kind
    ]
    return sells[0] if sells else None


def _order_by_uuid(reader: Reader, uuid: str) -> StoredOrder | None:
    rows = reader.query("SELECT * FROM orders WHERE uuid = ?", (uuid,))
    return decode_record(StoredOrder, rows[0]) if rows else None


def _trace(
    reader: Reader, trade_id: int | None, trade: TradeAudit | None, order: StoredOrder | None
) -> TradeTrace:
    # The trade row is what happened; the order's stored intent is what was meant (the same values
    # for every order sent by this version), and the only cause an unfilled order has.
    source = trade if trade is not None else order
    assert source is not None  # callers pass one of them
    candle_start = source.candle_start
    table: EvaluationTable = "buy_eval" if source.side == "bid" else "sell_eval"
    interval = trade.interval if trade is not None else None
    evaluation = None
    if source.cause in EVALUATED_CAUSES and candle_start is not None:
        evaluation = _deciding_evaluation(reader, table, source.market, interval, candle_start, source.rule)
    if interval is None and evaluation is not None:
        interval = evaluation.interval  # an unfilled order has no interval of its own
    versions = _versions(source, evaluation)
    return TradeTrace(
        mode=source.mode, market=source.market, side=source.side, interval=interval,
        candle_start=candle_start, trade_id=trade_id, trade=trade, order=order, cause=source.cause,
        rule=source.rule, requested_by=source.requested_by, note=source.note,
        command=_command(reader, source.command_id),
        evaluation_table=table if evaluation is not None else None, evaluation=evaluation,
        candle=_candle(reader, source.market, interval, candle_start),
        params_version=versions[0], conditions_version=versions[1],
        params=_settings(reader, versions[0]), conditions=_settings(reader, versions[1]),
    )  # fmt: skip


def _versions(
    source: TradeAudit | StoredOrder, evaluation: Evaluation | None
) -> tuple[int | None, int | None]:
    """The settings versions in force: the trade's or the order's, else the evaluation's."""
    if source.params_version is not None and source.conditions_version is not None:
        return source.params_version, source.conditions_version
    if evaluation is not None:
        return evaluation.params_version, evaluation.conditions_version
    return source.params_version, source.conditions_version


def _settings(reader: Reader, version: int | None) -> SettingsVersion | None:
    return reader.settings_version(version) if version is not None else None


def _deciding_evaluation(
    reader: Reader,
    table: EvaluationTable,
    market: str,
    interval: Interval | None,
    candle_start: datetime,
    rule: str | None,
) -> Evaluation | None:
    """The evaluation on the trade's candle whose decision was this trade's side.

    A sell may have a `tick` row (a price exit between closes) and a `close` row on the same
    candle: the one whose trigger rule is the trade's rule wins, then the tick (it came first).
    An order without a trade row has no interval: any interval of the market is searched.
    """
    sql = (
        f"SELECT * FROM {table} WHERE market = ? AND candle_start = ? "  # noqa: S608 - fixed table names only
        "AND (? IS NULL OR interval = ?) AND decision = ? ORDER BY evaluated_at"
    )
    decision = "buy" if table == "buy_eval" else "sell"
    interval_text = Interval(interval).value if interval is not None else None
    rows = reader.query(sql, (market, encode_time(candle_start), interval_text, interval_text, decision))
    if table == "buy_eval":
        return decode_record(BuyEvaluation, rows[0]) if rows else None
    sells = [decode_record(SellEvaluation, row) for row in rows]
    sells.sort(key=lambda row: (row.trigger_rule != rule, TRIGGER_ORDER.index(row.trigger_kind)))
    return sells[0] if sells else None


def _command(reader: Reader, command_id: int | None) -> Command | None:
    if command_id is None:
        return None
    rows = reader.query("SELECT * FROM commands WHERE id = ?", (command_id,))
    return decode_record(Command, rows[0]) if rows else None


def _candle(
    reader: Reader, market: str, interval: Interval | None, candle_start: datetime | None
) -> Candle | None:
    if interval is None or candle_start is None:
        return None
    window = Window(start=candle_start, end=candle_start + timedelta(microseconds=1), limit=1)
    found = reader.candles(market, interval, window)
    return found[0] if found else None
