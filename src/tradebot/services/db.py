"""Per-user storage: one SQLite file per user (WAL mode), read and written through a `Store`.

Open one `Store` per thread or process; a connection is never shared between threads. The engine
thread and the dashboard each open their own, and WAL lets readers run while a writer commits.
Everything one decision writes goes in one transaction, which lands whole or not at all, even
across a crash:

    with store.transaction() as tx:        # BEGIN IMMEDIATE ... COMMIT; ROLLBACK on any exception
        tx.insert_order(request)
        tx.set_position(position)
        tx.set_account(account)
        tx.append_trade_audit(audit)

Reads on the Store outside a transaction each see one committed state; `snapshot()` gives several
reads one consistent view. How values are stored (UTC nanoseconds, exact Decimal text, JSON) is in
`schema`. Nothing here logs, and no column holds a password or an API key in clear.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import Candle, Interval
from tradebot.core.params import Conditions, SettingsKind, StrategyParams
from tradebot.services.file_modes import PRIVATE_DIRECTORY, create_private_file
from tradebot.services.paths import database_path
from tradebot.services.records import (
    ACKNOWLEDGEMENTS,
    DEFAULT_STARTING_KRW,
    UNFINISHED,
    Account,
    ApiKeys,
    BuyEvaluation,
    Command,
    CommandKind,
    CommandRequest,
    CommandStatus,
    EngineState,
    EngineStatus,
    Mode,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PositionDecision,
    SellEvaluation,
    SettingsVersion,
    Side,
    TradeAudit,
    TradeCause,
    TriggerKind,
    User,
)
from tradebot.services.schema import (
    SCHEMA_VERSION,
    CorruptDatabaseError,
    SchemaVersionError,
    SqlValue,
    StorageError,
    decode_record,
    decode_time,
    detect_version,
    encode_decimal,
    encode_record,
    encode_time,
    upgrade,
)
from tradebot.services.users import validate_username

__all__ = [
    "ACKNOWLEDGEMENTS",
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DEFAULT_LIMIT",
    "DEFAULT_STARTING_KRW",
    "EVERYTHING",
    "UNFINISHED",
    "Account",
    "ApiKeys",
    "BuyEvaluation",
    "Command",
    "CommandKind",
    "CommandRequest",
    "CommandStatus",
    "DatabaseUnavailableError",
    "EngineState",
    "EngineStatus",
    "Mode",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Position",
    "PositionDecision",
    "Reader",
    "SellEvaluation",
    "SettingsVersion",
    "Side",
    "Store",
    "TradeAudit",
    "TradeCause",
    "Transaction",
    "TriggerKind",
    "User",
    "Window",
    "open_user_store",
]

DEFAULT_BUSY_TIMEOUT_MS = 5000
DEFAULT_LIMIT = 1000
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
TIME_RANGE = (-(2**63), 2**63 - 1)
RecordT = TypeVar("RecordT")
# SQLite result codes (prefixes of the extended names) of a file that cannot be used right now.
UNAVAILABLE = (
    ("SQLITE_BUSY", "the database is locked by another program"),
    ("SQLITE_LOCKED", "the database is locked by another connection"),
    ("SQLITE_FULL", "the disk is full"),
    ("SQLITE_IOERR", "disk I/O error"),
    ("SQLITE_READONLY", "the file cannot be written"),
    ("SQLITE_CANTOPEN", "the file cannot be opened"),
)


class DatabaseUnavailableError(StorageError):
    """The file cannot be used now (locked, disk full, I/O error): nothing changed; retry later."""


@contextmanager
def _translated(name: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorname", "") or ""
        if code in {"SQLITE_CORRUPT", "SQLITE_NOTADB"}:
            raise CorruptDatabaseError(f"{name}: damaged or not an SQLite database ({error})") from error
        problem = next((text for prefix, text in UNAVAILABLE if code.startswith(prefix)), None)
        if problem is not None:
            raise DatabaseUnavailableError(f"{name}: {problem} ({error})") from error
        raise StorageError(f"{name}: {error}") from error


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


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
OHLCV = ("open", "high", "low", "close", "volume")


class Reader:
    """Queries. Lists come oldest first (evaluations and candles by candle start)."""

    def __init__(self, connection: sqlite3.Connection, name: str) -> None:
        self._connection = connection
        self._name = name

    def _rows(self, sql: str, parameters: Sequence[SqlValue] = ()) -> list[sqlite3.Row]:
        with _translated(self._name):
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

    def account(self, mode: Mode) -> Account | None:
        """The KRW balance of `mode`, if any was saved."""
        return self._one(Account, "SELECT * FROM account WHERE mode = ?", (mode,))

    def positions(self, mode: Mode) -> list[Position]:
        """Every coin holding of `mode`, by market."""
        return self._all(Position, "SELECT * FROM coin_position WHERE mode = ? ORDER BY market", (mode,))

    def order(self, identifier: str) -> Order | None:
        """The order recorded under `identifier` (how a crash between send and record is recovered)."""
        return self._one(Order, "SELECT * FROM orders WHERE identifier = ?", (identifier,))

    def unfinished_orders(self, mode: Mode, market: str | None = None) -> list[Order]:
        """Orders of `mode` (of `market` if given) still `requested`, `wait` or `watch`, oldest first."""
        sql = (
            f"SELECT * FROM orders WHERE mode = ? AND (? IS NULL OR market = ?) AND state IN {UNFINISHED} "  # noqa: S608
            "ORDER BY id"
        )
        return self._all(Order, sql, (mode, market, market))

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
        with _translated(self._name):
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

    def set_account(self, account: Account) -> None:
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

    def insert_order(self, request: OrderRequest) -> None:
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


class Store(Reader):
    """An open per-user database; use as a context manager or call `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection, str(path))
        self.path = path
        self._identity = _file_identity(path)

    @classmethod
    def open(
        cls, path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, create: bool = True
    ) -> Store:
        """Open the database at `path`, upgrading it, and creating it unless `create` is False.

        A file of a newer or unknown schema raises SchemaVersionError, one that is not SQLite
        CorruptDatabaseError; neither is changed. Without `create`, a missing file raises
        StorageError and nothing is created.
        """
        if not create and not path.exists():
            raise StorageError(f"{path}: no such database file")
        target = str(path) if create else f"{path.absolute().as_uri()}?mode=rw"  # rw: never creates
        with _translated(str(path)):
            connection = sqlite3.connect(
                target, isolation_level=None, timeout=busy_timeout_ms / 1000, uri=not create
            )
        try:
            with _translated(str(path)):
                connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
                connection.execute("PRAGMA foreign_keys = ON")
                upgrade(connection, str(path))  # before WAL: a refused file must stay byte for byte as it was
                journal = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if journal != "wal":
                raise StorageError(f"{path}: cannot use WAL journal mode (got {journal})")
            # Commits survive a crash of the process either way; only `durable` transactions
            # (order records) wait for the disk, so a heartbeat costs no fsync (see transaction()).
            connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            connection.close()
            raise
        connection.row_factory = sqlite3.Row
        return cls(connection, path)

    @classmethod
    def open_read_only(cls, path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Store:
        """Open an existing database for reading only: nothing is created, upgraded or written.

        For readers that must keep showing data when the file cannot be written (read-only, disk
        full). A file of another schema version raises SchemaVersionError; any write raises
        StorageError.
        """
        with _translated(str(path)):
            connection = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro",
                isolation_level=None,
                timeout=busy_timeout_ms / 1000,
                uri=True,
            )
        try:
            with _translated(str(path)):
                connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
                version = detect_version(connection, str(path))
            if version != SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{path}: schema version {version} needs an upgrade, which needs write access"
                )
        except BaseException:
            connection.close()
            raise
        connection.row_factory = sqlite3.Row
        return cls(connection, path)

    def connection_settings(self) -> dict[str, object]:
        """journal_mode, foreign_keys and busy_timeout as this connection has them."""
        names = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        return {name: self._rows(f"PRAGMA {name}")[0][0] for name in names}

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[Transaction]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        Every commit survives a crash of the process (WAL). A `durable` one is also on the disk
        when this returns (fsync, `synchronous = FULL`), so it survives a power cut: order records,
        whose loss could hide an order sent to the exchange. Other writes (heartbeats, evaluations)
        may lose their last few commits on a power cut, never consistency.
        """
        if durable:
            self._set_synchronous("FULL")
        try:
            self._begin("BEGIN IMMEDIATE")  # the write lock now, so no reader-turned-writer deadlock later
            transaction = Transaction(self._connection, self._name)
            try:
                yield transaction
                with _translated(self._name):
                    self._connection.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                transaction.active = False
        finally:
            if durable:
                self._set_synchronous("NORMAL")

    def _set_synchronous(self, level: str) -> None:
        if not self._connection.in_transaction:  # the pragma cannot change inside a transaction
            with _translated(self._name):
                self._connection.execute(f"PRAGMA synchronous = {level}")

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """Several reads that all see one committed state, without blocking the writer."""
        self._begin("BEGIN")
        try:
            yield Reader(self._connection, self._name)
        finally:
            self._rollback()  # nothing was written; ending the read transaction releases the snapshot

    def _begin(self, statement: str) -> None:
        if self._connection.in_transaction:
            raise StorageError(f"{self._name}: a transaction is already open on this connection")
        with _translated(self._name):
            self._connection.execute(statement)

    def _rollback(self) -> None:
        with suppress(sqlite3.Error):  # a failed rollback must not hide the error that caused it
            if self._connection.in_transaction:
                self._connection.execute("ROLLBACK")

    def file_problem(self) -> str | None:
        """Why `path` no longer holds the file this Store opened (deleted or replaced), else None.

        SQLite goes on writing to a deleted file through an open connection without any error,
        and all of it is lost when the connection closes: a writer must check before it trusts
        the file.
        """
        identity = _file_identity(self.path)
        if identity is None:
            return f"{self.path} was deleted while it was open"
        if identity != self._identity:
            return f"{self.path} was replaced by another file while it was open"
        return None

    def close(self) -> None:
        """Close the connection (the last one to close checkpoints the WAL into the file)."""
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_user_store(
    home: Path, username: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, create: bool = True
) -> Store:
    """Open `{home}/tradebot_{username}.db`; the username is validated before any path is built.

    `create=False` (the engine) refuses a missing file instead of starting an empty one.
    """
    path = database_path(home, username)
    if create:
        home.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
        create_private_file(path)  # 0600 from the start; SQLite gives -wal and -shm the same mode
    return Store.open(path, busy_timeout_ms=busy_timeout_ms, create=create)
