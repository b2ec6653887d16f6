"""The queries of the per-user database: `Reader`, and the candle-time `Window` they take."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from tradebot.core.models import Candle, Interval
from tradebot.core.params import SettingsKind
from tradebot.services.records import (
    UNFINISHED,
    AccountBalance,
    ApiKeys,
    BuyEvaluation,
    Command,
    EngineStatus,
    Mode,
    Position,
    PositionDecision,
    SellEvaluation,
    SettingsVersion,
    StoredOrder,
    TradeAudit,
    User,
)
from tradebot.services.storage.codecs import SqlValue, decode_record, decode_time, encode_time
from tradebot.services.storage.errors import translated

DEFAULT_LIMIT = 1000
TIME_RANGE = (-(2**63), 2**63 - 1)
OHLCV = ("open", "high", "low", "close", "volume")
RecordT = TypeVar("RecordT")


@dataclass(frozen=True, slots=True)
class Window:
    """Rows with `start <= candle start < end` (None: unbounded); the newest `limit` of them."""

    start: datetime | None = None
    end: datetime | None = None
    limit: int = DEFAULT_LIMIT

    def parameters(self) -> tuple[int, int, int]:
        """(start ns, end ns, limit) for the window queries."""
        low = TIME_RANGE[0] if self.start is None else encode_time(self.start)
        high = TIME_RANGE[1] if self.end is None else encode_time(self.end)
        return low, high, self.limit


EVERYTHING = Window()


class Reader:
    """Queries. Lists come oldest first (evaluations and candles by candle start)."""

    def __init__(self, connection: sqlite3.Connection, name: str) -> None:
        self._connection = connection
        self._name = name

    def _rows(self, sql: str, parameters: Sequence[SqlValue] = ()) -> list[sqlite3.Row]:
        with translated(self._name):
            return self._connection.execute(sql, parameters).fetchall()

    def _all(self, record_type: type[RecordT], sql: str, parameters: Sequence[SqlValue]) -> list[RecordT]:
        return [decode_record(record_type, row) for row in self._rows(sql, parameters)]

    def _one(self, record_type: type[RecordT], sql: str, parameters: Sequence[SqlValue]) -> RecordT | None:
        found = self._all(record_type, sql, parameters)
        return found[0] if found else None

    def query(self, sql: str, parameters: Sequence[SqlValue] = ()) -> list[sqlite3.Row]:
        """Rows of one SELECT, for a feature package that owns its tables (`ai_review.store`)."""
        return self._rows(sql, parameters)

    def user(self, username: str) -> User | None:
        """The user row, if saved."""
        return self._one(User, "SELECT * FROM users WHERE username = ?", (username,))

    def api_keys(self, username: str) -> ApiKeys | None:
        """The user's encrypted key pair, if stored."""
        return self._one(ApiKeys, "SELECT * FROM api_keys WHERE username = ?", (username,))

    def account(self, mode: Mode) -> AccountBalance | None:
        """The KRW balance of `mode`, if any was saved."""
        return self._one(AccountBalance, "SELECT * FROM account WHERE mode = ?", (mode,))

    def positions(self, mode: Mode) -> list[Position]:
        """Every coin holding of `mode`, by market."""
        return self._all(Position, "SELECT * FROM coin_position WHERE mode = ? ORDER BY market", (mode,))

    def order(self, identifier: str) -> StoredOrder | None:
        """The order recorded under `identifier` (how a crash between send and record is recovered)."""
        return self._one(StoredOrder, "SELECT * FROM orders WHERE identifier = ?", (identifier,))

    def unfinished_orders(self, mode: Mode, market: str | None = None) -> list[StoredOrder]:
        """Orders of `mode` (of `market` if given) still `requested`, `wait` or `watch`, oldest first."""
        sql = (
            f"SELECT * FROM orders WHERE mode = ? AND (? IS NULL OR market = ?) AND state IN {UNFINISHED} "  # noqa: S608
            "ORDER BY id"
        )
        return self._all(StoredOrder, sql, (mode, market, market))

    def position_decisions(self) -> list[PositionDecision]:
        """The user's answers about adopted positions, oldest first."""
        return self._all(PositionDecision, "SELECT * FROM position_decisions ORDER BY id", ())

    def buy_evaluations(
        self, market: str, interval: Interval, window: Window = EVERYTHING
    ) -> list[BuyEvaluation]:
        """Buy evaluations of `market`/`interval` in `window`, by candle start."""
        return self._evaluations(BuyEvaluation, "buy_eval", market, interval, window)

    def sell_evaluations(
        self, market: str, interval: Interval, window: Window = EVERYTHING
    ) -> list[SellEvaluation]:
        """Sell evaluations in `window`, by candle start (a tick trigger before its candle's close)."""
        return self._evaluations(SellEvaluation, "sell_eval", market, interval, window)

    def _evaluations(
        self, record_type: type[RecordT], table: str, market: str, interval: Interval, window: Window
    ) -> list[RecordT]:
        sql = (
            f"SELECT * FROM {table} WHERE market = ? AND interval = ? AND candle_start >= ? "  # noqa: S608
            "AND candle_start < ? ORDER BY candle_start DESC, evaluated_at DESC LIMIT ?"
        )
        return self._all(record_type, sql, (market, Interval(interval).value, *window.parameters()))[::-1]

    def candles(self, market: str, interval: Interval, window: Window = EVERYTHING) -> list[Candle]:
        """Cached candles of `market`/`interval` in `window`, by start."""
        sql = (
            "SELECT * FROM candle_cache WHERE market = ? AND interval = ? AND start >= ? AND start < ? "
            "ORDER BY start DESC LIMIT ?"
        )
        rows = self._rows(sql, (market, Interval(interval).value, *window.parameters()))[::-1]
        return [Candle(decode_time(row["start"]), *(float(row[name]) for name in OHLCV)) for row in rows]

    def trade_audits(self, limit: int = DEFAULT_LIMIT) -> list[TradeAudit]:
        """The newest `limit` executed trades, oldest first."""
        sql = "SELECT * FROM trade_audit ORDER BY executed_at DESC, id DESC LIMIT ?"
        return self._all(TradeAudit, sql, (limit,))[::-1]

    def trade_recorded(self, mode: Mode, market: str, candle_start: datetime, rule: str) -> bool:
        """True if a trade of `rule` in `market` on the candle starting at `candle_start` is recorded."""
        sql = (
            "SELECT 1 FROM trade_audit WHERE mode = ? AND market = ? AND candle_start = ? AND rule = ? "
            "LIMIT 1"
        )
        return bool(self._rows(sql, (mode, market, encode_time(candle_start), rule)))

    def recent_commands(self, limit: int = 50) -> list[Command]:
        """The newest `limit` commands, newest first, with their acknowledgements."""
        return self._all(Command, "SELECT * FROM commands ORDER BY id DESC LIMIT ?", (limit,))

    def engine_status(self) -> EngineStatus | None:
        """The engine's status row, if it ever wrote one."""
        return self._one(EngineStatus, "SELECT * FROM engine_status", ())

    def settings_version(self, version: int) -> SettingsVersion | None:
        """One recorded settings version."""
        return self._one(SettingsVersion, "SELECT * FROM settings_history WHERE version = ?", (version,))

    def latest_settings(self, kind: SettingsKind) -> SettingsVersion | None:
        """The most recently recorded version of `kind` ('params' or 'conditions')."""
        sql = "SELECT * FROM settings_history WHERE kind = ? ORDER BY version DESC LIMIT 1"
        return self._one(SettingsVersion, sql, (kind,))
