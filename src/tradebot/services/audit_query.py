"""The Audit Viewer's queries: `buy_eval`, `sell_eval` and `trade_audit` as pandas frames, filtered in SQL.

The viewer has to stay fast with 100,000 rows per user, so every filter, the sort and the row limit
run inside SQLite and only the rows shown become a frame (no record objects are built). Each
evaluation row stores its condition results as one JSON object, `{key: {enabled, passed, value}}`
(`conditions` in `buy_eval`, `rules` in `sell_eval`); `json_extract` turns it into one symbol per
condition. Times are UTC epoch nanoseconds in the database and aware KST datetimes in the frames.

The connection is opened read-only (`PRAGMA query_only`) on one user's database file: the viewer
never writes, and never creates a file that is not there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd

from tradebot.core.params import BUY_CONDITION_KEYS, SELL_CONDITION_KEYS
from tradebot.services.records import TradeCause, TriggerKind
from tradebot.services.storage import SCHEMA_VERSION, StorageError
from tradebot.services.storage.codecs import KST, SqlValue, encode_time

AuditTable = Literal["buy_eval", "sell_eval", "trade_audit"]
AUDIT_TABLES: tuple[AuditTable, ...] = ("buy_eval", "sell_eval", "trade_audit")
CONDITION_KEYS: dict[AuditTable, tuple[str, ...]] = {
    "buy_eval": BUY_CONDITION_KEYS,
    "sell_eval": SELL_CONDITION_KEYS,
    "trade_audit": (),
}
DECISIONS: dict[AuditTable, tuple[str, ...]] = {
    "buy_eval": ("buy", "hold"),
    "sell_eval": ("sell", "hold"),
    "trade_audit": ("buy", "sell"),  # the trade's side
}
HELD, FAILED, OFF_HELD, OFF_FAILED = "✅", "❌", "(✓)", "(✗)"
LEGEND = (
    f"{HELD} enabled and held · {FAILED} enabled and failed · {OFF_HELD} / {OFF_FAILED} disabled "
    "(shown for information) · blank: not evaluated (warm-up, or a price check between closes)"
)
TIME_COLUMNS = ("candle_start", "evaluated_at", "executed_at")
DEFAULT_BUSY_TIMEOUT_MS = 5000
SIDES = {"buy": "bid", "sell": "ask"}

_JSON_COLUMN = {"buy_eval": "conditions", "sell_eval": "rules"}
_SORT_TIME = {
    "buy_eval": "candle_start",
    "sell_eval": "candle_start",
    "trade_audit": "COALESCE(candle_start, executed_at)",  # a manual trade has no candle
}
_TIEBREAK = {"buy_eval": "evaluated_at", "sell_eval": "evaluated_at", "trade_audit": "id"}
_SELECT_HEAD = {
    "buy_eval": "candle_start, market, interval, price, macd, signal, hist, decision, reason",
    "sell_eval": (
        "candle_start, trigger_kind, market, interval, price, entry_price, peak_price, "
        "stop_loss_price, take_profit_price, trailing_stop_price, bars_held, macd, signal, hist, "
        "decision, trigger_rule, reason"
    ),
    "trade_audit": (
        "candle_start, executed_at, mode, market, interval, "
        "CASE side WHEN 'bid' THEN 'buy' ELSE 'sell' END AS side, fill_price, volume, fee, realised_profit, "
        "cause, rule, requested_by, note, order_identifier, order_uuid"
    ),
}
_SELECT_TAIL = {
    "buy_eval": "params_version, conditions_version, evaluated_at",
    "sell_eval": "params_version, conditions_version, evaluated_at",
    "trade_audit": "params_version, conditions_version, id",  # the id names the row for `tradebot why`
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Which rows to show. None (or False) leaves that filter off.

    `start`/`end` bound the candle start (`start <= candle start < end`; a trade without a candle
    uses its execution time). `decision` is buy/sell/hold (for trades: the side). `failed_condition`
    keeps rows where that condition was enabled and did not hold.
    """

    start: datetime | None = None
    end: datetime | None = None
    market: str | None = None
    interval: str | None = None
    decision: str | None = None
    failed_condition: str | None = None
    trigger_kind: TriggerKind | None = None
    cause: TradeCause | None = None
    newest_first: bool = True


NO_FILTER = AuditFilter()


@contextmanager
def open_audit_connection(
    path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> Iterator[sqlite3.Connection]:
    """A read-only connection to an existing, current-schema user database, closed after the block."""
    if not path.is_file():
        raise StorageError(f"{path.name}: no such database")
    uri = f"{path.resolve().as_uri()}?mode=rw"  # rw, not rwc: never create a missing file
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as error:
        raise StorageError(f"{path.name}: cannot open ({error})") from None
    with closing(connection):
        connection.execute("PRAGMA query_only = ON")
        version = int(connection.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            raise StorageError(
                f"{path.name}: schema version {version}, expected {SCHEMA_VERSION} "
                "(open it once with the engine or `tradebot user` to upgrade it)"
            )
        yield connection


def market_intervals(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every (market, interval) that has evaluations, sorted."""
    sql = (
        "SELECT DISTINCT market, interval FROM buy_eval UNION "
        "SELECT DISTINCT market, interval FROM sell_eval ORDER BY 1, 2"
    )
    return [(str(market), str(interval)) for market, interval in connection.execute(sql)]


def count_rows(connection: sqlite3.Connection, table: AuditTable, criteria: AuditFilter = NO_FILTER) -> int:
    """How many rows of `table` match `criteria`."""
    where, parameters = _where(table, criteria)
    sql = f"SELECT COUNT(*) FROM {_checked_table(table)} WHERE {where}"  # noqa: S608 - fixed names only
    return int(connection.execute(sql, parameters).fetchone()[0])


def audit_frame(
    connection: sqlite3.Connection,
    table: AuditTable,
    criteria: AuditFilter = NO_FILTER,
    limit: int | None = 500,
) -> pd.DataFrame:
    """The matching rows of `table`, sorted by candle start (newest first unless asked otherwise).

    With `limit`, only the newest (or oldest) `limit` rows are read: the sort and the limit run on
    row ids first, so the condition columns are computed for the rows returned only.
    """
    where, parameters = _where(table, criteria)
    order = _order(table, criteria.newest_first)
    columns = _select_list(table)
    name = _checked_table(table)
    if limit is None:
        sql = f"SELECT {columns} FROM {name} WHERE {where} ORDER BY {order}"  # noqa: S608 - fixed names only
    else:
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        sql = (
            f"SELECT {columns} FROM {name} WHERE rowid IN "  # noqa: S608 - fixed names only
            f"(SELECT rowid FROM {name} WHERE {where} ORDER BY {order} LIMIT ?) ORDER BY {order}"
        )
        parameters = [*parameters, limit]
    frame = pd.read_sql_query(sql, connection, params=parameters)
    return _with_kst_times(frame)


def audit_csv(connection: sqlite3.Connection, table: AuditTable, criteria: AuditFilter = NO_FILTER) -> str:
    """Every matching row of `table` as CSV text (times as `2026-03-01 21:00:00+09:00`, KST)."""
    text: str = audit_frame(connection, table, criteria, limit=None).to_csv(index=False)
    return text


def settings_versions(connection: sqlite3.Connection) -> pd.DataFrame:
    """Every recorded settings version: version, kind, saved_at (KST), saved_by and the JSON content."""
    sql = "SELECT version, kind, saved_at, saved_by, content FROM settings_history ORDER BY version"
    return _with_kst_times(pd.read_sql_query(sql, connection), ("saved_at",))


def _checked_table(table: str) -> str:
    if table not in AUDIT_TABLES:
        raise ValueError(f"unknown audit table {table!r}")
    return table


def _select_list(table: AuditTable) -> str:
    symbols = [_condition_symbol(_JSON_COLUMN[table], key) for key in CONDITION_KEYS[table]]
    return ", ".join([_SELECT_HEAD[table], *symbols, _SELECT_TAIL[table]])


def _condition_symbol(column: str, key: str) -> str:
    # `key` is one of the fixed condition keys and `column` a fixed column name, never input.
    enabled, passed = (
        f"json_extract({column}, '$.{key}.enabled')",
        f"json_extract({column}, '$.{key}.passed')",
    )
    return (
        f"CASE {passed} WHEN 1 THEN IIF({enabled}, '{HELD}', '{OFF_HELD}') "
        f"WHEN 0 THEN IIF({enabled}, '{FAILED}', '{OFF_FAILED}') ELSE '' END AS {key}"
    )


def _order(table: AuditTable, newest_first: bool) -> str:
    direction = "DESC" if newest_first else "ASC"
    return f"{_SORT_TIME[table]} {direction}, {_TIEBREAK[table]} {direction}"


def _where(table: AuditTable, criteria: AuditFilter) -> tuple[str, list[SqlValue]]:
    _checked_table(table)
    clauses: list[str] = []
    parameters: list[SqlValue] = []

    def add(clause: str, *values: SqlValue) -> None:
        clauses.append(clause)
        parameters.extend(values)

    if criteria.start is not None:
        add(f"{_SORT_TIME[table]} >= ?", encode_time(criteria.start))
    if criteria.end is not None:
        add(f"{_SORT_TIME[table]} < ?", encode_time(criteria.end))
    if criteria.market is not None:
        add("market = ?", criteria.market)
    if criteria.interval is not None:
        add("interval = ?", criteria.interval)
    if criteria.decision is not None:
        add(*_decision_clause(table, criteria.decision))
    if criteria.failed_condition is not None:
        add(*_failed_clause(table, criteria.failed_condition))
    if criteria.trigger_kind is not None:
        add("trigger_kind = ?", _only_for(table, "sell_eval", "trigger", criteria.trigger_kind))
    if criteria.cause is not None:
        add("cause = ?", _only_for(table, "trade_audit", "cause", criteria.cause))
    return " AND ".join(clauses) or "1", parameters


def _decision_clause(table: AuditTable, decision: str) -> tuple[str, str]:
    if decision not in DECISIONS[table]:
        raise ValueError(f"{table} has no decision {decision!r} (one of {', '.join(DECISIONS[table])})")
    if table == "trade_audit":
        return "side = ?", SIDES[decision]
    return "decision = ?", decision


def _failed_clause(table: AuditTable, key: str) -> tuple[str, str, str]:
    if key not in CONDITION_KEYS[table]:
        raise ValueError(f"{table} has no condition {key!r}")
    column = _JSON_COLUMN[table]
    clause = f"json_extract({column}, ?) = 1 AND json_extract({column}, ?) = 0"
    return clause, f"$.{key}.enabled", f"$.{key}.passed"


def _only_for(table: AuditTable, expected: AuditTable, name: str, value: str) -> str:
    if table != expected:
        raise ValueError(f"the {name} filter applies to {expected} only, not {table}")
    return value


def _with_kst_times(frame: pd.DataFrame, columns: tuple[str, ...] = TIME_COLUMNS) -> pd.DataFrame:
    for column in columns:
        if column in frame:
            moments = pd.to_datetime(frame[column].astype("Int64"), unit="ns", utc=True)
            frame[column] = moments.dt.tz_convert(KST)
    return frame
