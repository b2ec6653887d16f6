"""The writes of the per-user database: a `Transaction`, valid inside `Store.transaction()`."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache

from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import Candle, Interval
from tradebot.core.params import Conditions, SettingsKind, StrategyParams
from tradebot.services.records import (
    ACKNOWLEDGEMENTS,
    UNFINISHED,
    AccountBalance,
    ApiKeys,
    BuyEvaluation,
    Command,
    CommandRequest,
    CommandStatus,
    EngineStatus,
    Mode,
    OrderUpdate,
    PendingOrder,
    Position,
    PositionDecision,
    SellEvaluation,
    TradeAudit,
    User,
)
from tradebot.services.storage.codecs import SqlValue, encode_decimal, encode_record, encode_time
from tradebot.services.storage.errors import StorageError, translated
from tradebot.services.storage.reader import OHLCV, Reader
from tradebot.services.users import validate_username

BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")


@cache
def _insert_sql(table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    # Identifiers come from the row dataclasses' field names, never from input.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + column for column in columns)})"  # noqa: S608
    )
    if keys:
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in keys)
        sql += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    return sql


class Transaction(Reader):
    """The writes, valid only inside `Store.transaction()`; reads here see this transaction's writes."""

    def __init__(self, connection: sqlite3.Connection, name: str) -> None:
        super().__init__(connection, name)
        self.active = True

    def _write(
        self, sql: str, parameters: Sequence[SqlValue] | Mapping[str, SqlValue] | list[dict[str, SqlValue]]
    ) -> sqlite3.Cursor:
        if not self.active:
            raise StorageError(f"{self._name}: this transaction has already ended")
        with translated(self._name):
            if isinstance(parameters, list):  # one row per element: a batch
                return self._connection.executemany(sql, parameters)
            return self._connection.execute(sql, parameters)

    def _store(
        self,
        table: str,
        record: object,
        keys: tuple[str, ...] = (),
        extra: Mapping[str, SqlValue] | None = None,
    ) -> int:
        values = encode_record(record) | dict(extra or {})
        return self._write(_insert_sql(table, tuple(values), keys), values).lastrowid or 0

    def execute(
        self, sql: str, parameters: Sequence[SqlValue] | Mapping[str, SqlValue] = ()
    ) -> sqlite3.Cursor:
        """Run one write statement of a feature package that owns its tables (`ai_review.store`)."""
        return self._write(sql, parameters)

    def save_user(self, user: User) -> None:
        """Insert or replace the user row; a password_hash that is not a bcrypt hash is refused."""
        validate_username(user.username)
        if user.password_hash is not None and not BCRYPT_HASH.fullmatch(user.password_hash):
            # The message must not repeat the value: it may be a password typed in clear.
            raise StorageError("password_hash is not a bcrypt hash; refusing to store it")
        self._store("users", user, keys=("username",))

    def set_api_keys(self, keys: ApiKeys) -> None:
        """Insert or replace the user's encrypted key pair (ciphertext only)."""
        self._store("api_keys", keys, keys=("username",))

    def set_account(self, account: AccountBalance) -> None:
        """Insert or replace the KRW balance of `account.mode`."""
        self._store("account", account, keys=("mode",))

    def set_position(self, position: Position) -> None:
        """Insert or replace the holding of (`mode`, `market`)."""
        self._store("coin_position", position, keys=("mode", "market"))

    def record_position_decision(self, decision: PositionDecision) -> None:
        """Record the user's answer about an adopted position (who, when, what it held)."""
        self._store("position_decisions", decision)

    def clear_position(self, mode: Mode, market: str) -> None:
        """Remove the holding of (`mode`, `market`): the position is closed."""
        self._write("DELETE FROM coin_position WHERE mode = ? AND market = ?", (mode, market))

    def insert_order(self, request: PendingOrder) -> None:
        """Record an order as `requested`, before it is sent; a reused identifier is refused."""
        extra: dict[str, SqlValue] = {"state": "requested", "updated_at": encode_time(request.requested_at)}
        self._store("orders", request, extra=extra)

    def update_order(self, identifier: str, update: OrderUpdate) -> None:
        """Record the exchange's answer; an unknown or already final order raises StorageError."""
        if update.state == "requested":
            raise StorageError(f"order {identifier}: an order cannot go back to 'requested'")
        values = encode_record(update)
        # None means "not reported": keep what is stored (a later poll may omit the uuid).
        assignments = ", ".join(
            f"{name} = :{name}" if name in ("state", "updated_at") else f"{name} = COALESCE(:{name}, {name})"
            for name in values
        )
        sql = f"UPDATE orders SET {assignments} WHERE identifier = :identifier AND state IN {UNFINISHED}"  # noqa: S608
        if self._write(sql, values | {"identifier": identifier}).rowcount != 1:
            raise StorageError(f"order {identifier} is unknown or already final")

    def upsert_buy_evaluation(self, evaluation: BuyEvaluation) -> None:
        """Write the evaluation of a candle; re-processing the candle replaces its row."""
        self._store("buy_eval", evaluation, keys=("market", "interval", "candle_start"))

    def upsert_sell_evaluation(self, evaluation: SellEvaluation) -> None:
        """Write a sell evaluation; one row per (market, interval, candle start, trigger kind)."""
        self._store("sell_eval", evaluation, keys=("market", "interval", "candle_start", "trigger_kind"))

    def append_trade_audit(self, audit: TradeAudit) -> int:
        """Record an executed trade and return its id; an order identifier has at most one row."""
        return self._store("trade_audit", audit)

    def record_settings(
        self, settings: StrategyParams | Conditions, *, saved_at: datetime, saved_by: str
    ) -> int:
        """Record a params or conditions version and return its number; unchanged content keeps the latest."""
        kind: SettingsKind = "params" if isinstance(settings, StrategyParams) else "conditions"
        content = json.dumps(settings.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        latest = self.latest_settings(kind)
        if latest is not None and latest.content_hash == digest:
            return latest.version
        values = (kind, content, digest, encode_time(saved_at), saved_by)
        sql = (
            "INSERT INTO settings_history (kind, content, content_hash, saved_at, saved_by) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        return self._write(sql, values).lastrowid or 0

    def submit_command(self, request: CommandRequest) -> int:
        """Queue a command for the engine (the dashboard's side); returns its id."""
        return self._store("commands", request)

    def claim_next_command(self, *, engine_id: str, claimed_at: datetime) -> Command | None:
        """Take the oldest pending command; None if there is none or another engine took it first."""
        pending = self._rows("SELECT id FROM commands WHERE status = 'pending' ORDER BY id LIMIT 1")
        if not pending:
            return None
        command_id = int(pending[0]["id"])
        sql = (
            "UPDATE commands SET status = 'claimed', claimed_by = ?, claimed_at = ? "
            "WHERE id = ? AND status = ?"
        )
        if self._write(sql, (engine_id, encode_time(claimed_at), command_id, "pending")).rowcount != 1:
            return None  # another engine claimed it since the SELECT: a command runs only once
        return self._one(Command, "SELECT * FROM commands WHERE id = ?", (command_id,))

    def acknowledge_command(
        self, command_id: int, *, status: CommandStatus, message: str, acknowledged_at: datetime
    ) -> None:
        """Close a claimed command as `done`, `failed` or `rejected`, with a result message."""
        if status not in ACKNOWLEDGEMENTS:
            raise StorageError(f"command {command_id}: {status!r} is not an acknowledgement")
        sql = (
            "UPDATE commands SET status = ?, result_message = ?, acknowledged_at = ? "
            "WHERE id = ? AND status = ?"
        )
        values = (status, message, encode_time(acknowledged_at), command_id, "claimed")
        if self._write(sql, values).rowcount != 1:
            raise StorageError(f"command {command_id} is not claimed (unknown or already acknowledged)")

    def set_engine_status(self, status: EngineStatus) -> None:
        """Replace the engine's status row (state, heartbeat, last fetch, candle, cycle and error)."""
        self._store("engine_status", status, keys=("singleton",), extra={"singleton": 1})

    def save_candles(self, market: str, interval: Interval, candles: Iterable[Candle]) -> None:
        """Insert or update cached candles of `market`/`interval`, keyed by start."""
        key: dict[str, SqlValue] = {"market": market, "interval": Interval(interval).value}
        rows = [
            key
            | {"start": encode_time(candle.start)}
            | {name: encode_decimal(to_decimal(getattr(candle, name))) for name in OHLCV}
            for candle in candles
        ]
        if rows:
            self._write(_insert_sql("candle_cache", tuple(rows[0]), ("market", "interval", "start")), rows)
