"""The per-user database's schema: tables, column encodings and the upgrades between versions.

Storage conventions (every table follows them; the codecs below are the only converters):

- Times are INTEGER epoch nanoseconds, UTC (the same unit as `core.models` candle starts). The
  Python side always sees aware UTC `datetime`s; a naive datetime is refused. Durations are
  INTEGER nanoseconds.
- Money (prices, balances, volumes, fees, profits) is TEXT holding an exact `Decimal` in plain
  notation (`'0.00009713'`, never REAL). Only indicator values (macd, signal, hist) are REAL:
  they are float64 results of the indicator arithmetic, not amounts of money.
- JSON columns are TEXT, checked with `json_valid` and written with NaN/Infinity refused.
- Every table is STRICT, so a value of the wrong type is refused instead of stored.

Versions live in `PRAGMA user_version`. Version 1 is the original system's file: the seed's seven
tables (naive KST text times, REAL money, no keys) with `user_version` left at 0. Version 2 is the
current layout. Upgrading 1 -> 2 renames each old table to `v1_<name>` (kept read-only, rows
untouched, for reference), creates the new tables and carries the state over: users, the paper
balance and the coin positions. Old evaluations and audit rows stay only in the `v1_*` tables: they
have no candle key, duplicate rows and no settings version, so they cannot meet the new guarantees.
Version 3 adds the optional AI review's tables (`ai_settings`, `ai_keys`, `ai_calls`,
`ai_explanations`; read and written by `services.ai_review.store`); upgrading 2 -> 3 only creates
them, and a fresh file is created at version 2 and upgraded, so both paths give the same layout.
Version 4 (issue 12, "Positions the bot owns") stores each order's intent (cause, rule, command,
requester, note, settings versions) so an order finished after a restart keeps its audit, adds
`coin_position.origin` and the `position_decisions` table, and marks every LIVE position that the
bot's own filled orders do not explain (an older tradebot adopted it from the account's balance)
as `adopted`: the user confirms or releases it (see `adopted_positions`).
It also lets a `trade_audit` row without an order be a `dust` write-off (TRADING_RULES.md
v2): SQLite cannot change a CHECK, so that table is rebuilt with the same columns and rows.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from tradebot.core.errors import TradebotError
from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import datetime_to_nanos, nanos_to_datetime
from tradebot.core.strategy import ConditionResult

SCHEMA_VERSION = 4
V1_TABLES = ("users", "account", "coin_position", "orders", "buy_eval", "sell_eval", "trade_audit")
KST = timezone(timedelta(hours=9), "KST")  # the original system wrote naive Korean wall-clock times

SqlValue = int | float | str | bytes | None
Encoder = Callable[[Any], SqlValue]
Decoder = Callable[[Any], object]
RecordT = TypeVar("RecordT")


class StorageError(TradebotError):
    """A database could not be opened, read or written; the message is one line."""


class SchemaVersionError(StorageError):
    """The file was written by a newer tradebot (or is not a tradebot database); it was not changed."""


class CorruptDatabaseError(StorageError):
    """The file is not an SQLite database, or it is damaged."""


# Version 2's tables exactly as created; frozen: a later version changes them in its own migration.
VERSION_2: tuple[str, ...] = (
    """CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT CHECK (password_hash IS NULL
        OR (length(password_hash) = 60 AND password_hash GLOB '$2[aby]$[0-9][0-9]$*')),
    created_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE api_keys (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    access_key_ciphertext BLOB NOT NULL,
    secret_key_ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE account (
    mode TEXT PRIMARY KEY CHECK (mode IN ('TEST', 'LIVE')),
    krw_balance TEXT NOT NULL CHECK (krw_balance NOT LIKE '-%'),
    starting_krw TEXT NOT NULL DEFAULT '1000000' CHECK (starting_krw NOT LIKE '-%'),
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE coin_position (
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    entry_price TEXT CHECK (entry_price NOT LIKE '-%'),
    peak_price TEXT,
    entry_candle_start INTEGER,
    bars_held INTEGER NOT NULL DEFAULT 0 CHECK (bars_held >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (mode, market)) STRICT""",
    """CREATE TABLE settings_history (
    version INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('params', 'conditions')),
    content TEXT NOT NULL CHECK (json_valid(content)),
    content_hash TEXT NOT NULL,
    saved_at INTEGER NOT NULL,
    saved_by TEXT NOT NULL CHECK (saved_by <> '')) STRICT""",
    "CREATE INDEX settings_history_by_kind ON settings_history (kind, version)",
    """CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE CHECK (identifier <> ''),
    uuid TEXT UNIQUE,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
    ord_type TEXT NOT NULL CHECK (ord_type IN ('limit', 'price', 'market', 'best')),
    price TEXT,
    volume TEXT,
    state TEXT NOT NULL CHECK (state IN ('requested', 'wait', 'watch', 'done', 'cancel', 'rejected')),
    executed_volume TEXT,
    average_price TEXT,
    paid_fee TEXT,
    error_name TEXT,
    error_message TEXT,
    candle_start INTEGER,
    requested_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    "CREATE INDEX orders_unfinished ON orders (mode, state) WHERE state IN ('requested', 'wait', 'watch')",
    """CREATE TABLE buy_eval (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    candle_start INTEGER NOT NULL,
    price TEXT NOT NULL,
    macd REAL,
    signal REAL,
    hist REAL,
    conditions TEXT NOT NULL CHECK (json_valid(conditions)),
    decision TEXT NOT NULL CHECK (decision IN ('buy', 'sell', 'hold')),
    reason TEXT NOT NULL,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (market, interval, candle_start)) STRICT""",
    """CREATE TABLE sell_eval (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    candle_start INTEGER NOT NULL,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('close', 'tick')),
    price TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    peak_price TEXT NOT NULL,
    stop_loss_price TEXT NOT NULL,
    take_profit_price TEXT NOT NULL,
    trailing_stop_price TEXT NOT NULL,
    bars_held INTEGER NOT NULL CHECK (bars_held >= 0),
    macd REAL,
    signal REAL,
    hist REAL,
    rules TEXT NOT NULL CHECK (json_valid(rules)),
    decision TEXT NOT NULL CHECK (decision IN ('buy', 'sell', 'hold')),
    reason TEXT NOT NULL,
    trigger_rule TEXT,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (market, interval, candle_start, trigger_kind)) STRICT""",
    """CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('start', 'stop', 'restart', 'set_mode', 'force_buy', 'force_sell',
        'pause', 'resume')),
    args TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(args) AND json_type(args) = 'object'),
    requested_by TEXT NOT NULL CHECK (requested_by <> ''),
    requested_at INTEGER NOT NULL,
    live_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (live_confirmed IN (0, 1)),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'done', 'failed',
        'rejected')),
    claimed_by TEXT,
    claimed_at INTEGER,
    result_message TEXT,
    acknowledged_at INTEGER) STRICT""",
    "CREATE INDEX commands_by_status ON commands (status, id)",
    """CREATE TABLE trade_audit (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    interval TEXT,
    candle_start INTEGER,
    side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
    order_identifier TEXT UNIQUE REFERENCES orders (identifier),
    order_uuid TEXT,
    fill_price TEXT NOT NULL CHECK (fill_price NOT LIKE '-%'),
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    fee TEXT NOT NULL CHECK (fee NOT LIKE '-%'),
    realised_profit TEXT,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    cause TEXT NOT NULL CHECK (cause IN ('strategy', 'force', 'recovery', 'manual')),
    rule TEXT,
    command_id INTEGER REFERENCES commands (id),
    requested_by TEXT,
    note TEXT,
    executed_at INTEGER NOT NULL,
    CHECK (cause = 'manual' OR order_identifier IS NOT NULL),
    CHECK (cause <> 'strategy' OR rule IS NOT NULL),
    CHECK (cause <> 'force' OR (command_id IS NOT NULL AND requested_by IS NOT NULL))) STRICT""",
    "CREATE INDEX trade_audit_by_time ON trade_audit (executed_at)",
    """CREATE TABLE engine_status (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    state TEXT NOT NULL CHECK (state IN ('stopped', 'warming_up', 'running', 'paused', 'failed')),
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    engine_id TEXT,
    heartbeat_at INTEGER NOT NULL,
    last_fetch_at INTEGER,
    last_closed_candle INTEGER,
    last_cycle_duration INTEGER,
    last_error TEXT) STRICT""",
    """CREATE TABLE candle_cache (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    start INTEGER NOT NULL,
    open TEXT NOT NULL,
    high TEXT NOT NULL,
    low TEXT NOT NULL,
    close TEXT NOT NULL,
    volume TEXT NOT NULL,
    PRIMARY KEY (market, interval, start)) STRICT, WITHOUT ROWID""",
)

# Version 3: the optional AI review (issue 8). Settings are JSON validated by
# `ai_review.config.AiSettings`; the API key is Fernet ciphertext like `api_keys`. `ai_calls` keeps
# every request whatever its outcome: `pending` is the reservation written before a request is
# sent (its cost is the estimate, so concurrent callers and a crash mid-request stay under the cap).
VERSION_3: tuple[str, ...] = (
    """CREATE TABLE ai_settings (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    settings TEXT NOT NULL CHECK (json_valid(settings) AND json_type(settings) = 'object'),
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL CHECK (updated_by <> '')) STRICT""",
    """CREATE TABLE ai_keys (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    api_key_ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE ai_calls (
    id INTEGER PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('explain', 'review', 'advisor')),
    row_ref TEXT,
    model TEXT NOT NULL CHECK (model <> ''),
    prompt TEXT NOT NULL CHECK (json_valid(prompt) AND json_type(prompt) = 'array'),
    response TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'timeout', 'budget')),
    error TEXT,
    input_tokens INTEGER CHECK (input_tokens >= 0),
    output_tokens INTEGER CHECK (output_tokens >= 0),
    cost_usd TEXT NOT NULL CHECK (cost_usd NOT LIKE '-%'),
    duration INTEGER CHECK (duration >= 0),
    created_at INTEGER NOT NULL) STRICT""",
    "CREATE INDEX ai_calls_by_time ON ai_calls (created_at)",
    """CREATE TABLE ai_explanations (
    row_ref TEXT PRIMARY KEY CHECK (row_ref <> ''),
    row_evaluated_at INTEGER NOT NULL,
    call_id INTEGER NOT NULL REFERENCES ai_calls (id),
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL) STRICT""",
)

# Version 4: order intents, position origin, and the user's decisions about adopted positions.
VERSION_4: tuple[str, ...] = (
    "ALTER TABLE orders ADD COLUMN cause TEXT "
    "CHECK (cause IS NULL OR cause IN ('strategy', 'force', 'recovery', 'manual'))",
    "ALTER TABLE orders ADD COLUMN rule TEXT",
    "ALTER TABLE orders ADD COLUMN command_id INTEGER",
    "ALTER TABLE orders ADD COLUMN requested_by TEXT",
    "ALTER TABLE orders ADD COLUMN note TEXT",
    "ALTER TABLE orders ADD COLUMN params_version INTEGER",
    "ALTER TABLE orders ADD COLUMN conditions_version INTEGER",
    "ALTER TABLE coin_position ADD COLUMN origin TEXT NOT NULL DEFAULT 'bot' "
    "CHECK (origin IN ('bot', 'adopted'))",
    """CREATE TABLE position_decisions (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('confirm', 'release')),
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    entry_price TEXT CHECK (entry_price NOT LIKE '-%'),
    decided_by TEXT NOT NULL CHECK (decided_by <> ''),
    decided_at INTEGER NOT NULL,
    note TEXT) STRICT""",
)
# How far a stored entry may sit from the bot's own fills' average and still be theirs: the old
# code stored Upbit's `avg_buy_price`, which rounds the same fills slightly differently.
ENTRY_TOLERANCE = Decimal("0.001")


# Version 4 also: the one CHECK of version 2's trade_audit that a dust write-off (no order) must pass.
ORDER_REQUIRED = "CHECK (cause = 'manual' OR order_identifier IS NOT NULL)"
ORDER_OR_DUST = "CHECK (cause = 'manual' OR rule = 'dust' OR order_identifier IS NOT NULL)"


# --- column codecs ---------------------------------------------------------------------------


def encode_decimal(value: Decimal) -> str:
    """An exact, finite Decimal as plain-notation text; anything else (a float) is refused."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise StorageError(f"expected a finite Decimal, got {type(value).__name__}")
    return format(value, "f")


def decode_decimal(text: str) -> Decimal:
    """The Decimal a money column holds."""
    return Decimal(text)


def encode_time(moment: datetime) -> int:
    """An aware datetime as UTC epoch nanoseconds; a naive one is refused."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise StorageError("expected an aware datetime (naive times are ambiguous)")
    return datetime_to_nanos(moment)


def decode_time(nanos: int) -> datetime:
    """UTC epoch nanoseconds as an aware UTC datetime."""
    return nanos_to_datetime(nanos)


def encode_json(document: Mapping[str, object]) -> str:
    """A JSON object as text; NaN, Infinity and values JSON cannot hold are refused."""
    if not isinstance(document, Mapping):
        raise StorageError(f"expected a JSON object, got {type(document).__name__}")
    try:
        return json.dumps(document, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise StorageError(f"not storable as JSON ({error})") from None


def decode_json(text: str) -> dict[str, object]:
    """The JSON object a column holds."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise StorageError("a JSON column does not hold an object")
    return document


def _encode_duration(value: timedelta) -> int:
    if not isinstance(value, timedelta):
        raise StorageError(f"expected a timedelta, got {type(value).__name__}")
    return (value // timedelta(microseconds=1)) * 1000


def _encode_float(value: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StorageError(f"expected a float, got {type(value).__name__}")
    return float(value) if math.isfinite(value) else None  # an undefined indicator is NULL


def _checked(kind: type, convert: Callable[[Any], SqlValue]) -> Encoder:
    def encode(value: object) -> SqlValue:
        # bool is an int subclass; a flag stored in a count column is a bug, not a number
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise StorageError(f"expected {kind.__name__}, got {type(value).__name__}")
        return convert(value)

    return encode


def _literal_encoder(allowed: tuple[str, ...]) -> Encoder:
    def encode(value: object) -> SqlValue:
        if value not in allowed:
            raise StorageError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return encode


def _encode_conditions(results: Mapping[str, ConditionResult]) -> str:
    document = {
        key: {"enabled": result.enabled, "passed": result.passed, "value": result.value}
        for key, result in results.items()
    }
    return encode_json(document)


def _decode_conditions(text: str) -> dict[str, ConditionResult]:
    return {
        key: ConditionResult(bool(item["enabled"]), bool(item["passed"]), item["value"])
        for key, item in json.loads(text).items()
    }


PLAIN_CODECS: dict[object, tuple[Encoder, Decoder]] = {
    Decimal: (encode_decimal, decode_decimal),
    datetime: (encode_time, decode_time),
    timedelta: (_encode_duration, lambda nanos: timedelta(microseconds=nanos // 1000)),
    bool: (_checked(bool, int), bool),
    int: (_checked(int, int), int),
    float: (_encode_float, float),
    str: (_checked(str, str), str),
    bytes: (_checked(bytes, bytes), bytes),  # ciphertext only (api_keys)
}


def _resolve(annotation: Any) -> tuple[Encoder, Decoder]:
    arguments = get_args(annotation)
    if type(None) in arguments:
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        encode, decode = _resolve(inner)
        return (
            lambda value: None if value is None else encode(value),
            lambda value: None if value is None else decode(value),
        )
    if annotation in PLAIN_CODECS:
        return PLAIN_CODECS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return (lambda value: annotation(value).value, annotation)
    if get_origin(annotation) is Literal:
        return (_literal_encoder(arguments), str)
    if get_origin(annotation) is dict and arguments[1] is ConditionResult:
        return (_encode_conditions, _decode_conditions)
    if get_origin(annotation) is dict:
        return (encode_json, decode_json)
    raise TypeError(f"no column codec for {annotation!r}")


@dataclass(frozen=True, slots=True)
class ColumnCodec:
    """How one dataclass field is written to and read from its column of the same name."""

    name: str
    encode: Encoder
    decode: Decoder


_CODECS: dict[type, tuple[ColumnCodec, ...]] = {}


def record_codecs(record_type: type) -> tuple[ColumnCodec, ...]:
    """Codecs for every field of a row dataclass, chosen by the field's type annotation (cached)."""
    if record_type not in _CODECS:
        hints = get_type_hints(record_type)
        codecs = (ColumnCodec(item.name, *_resolve(hints[item.name])) for item in fields(record_type))
        _CODECS[record_type] = tuple(codecs)
    return _CODECS[record_type]


def encode_record(record: object) -> dict[str, SqlValue]:
    """A row dataclass as column values; a value of the wrong type raises StorageError naming it."""
    values: dict[str, SqlValue] = {}
    for codec in record_codecs(type(record)):
        try:
            values[codec.name] = codec.encode(getattr(record, codec.name))
        except (StorageError, ValueError) as error:  # ValueError: not a member of the field's enum
            raise StorageError(f"{type(record).__name__}.{codec.name}: {error}") from None
    return values


def decode_record(record_type: type[RecordT], row: sqlite3.Row) -> RecordT:
    """A row dataclass from a database row holding (at least) its fields' columns."""
    values = {codec.name: codec.decode(row[codec.name]) for codec in record_codecs(record_type)}
    return record_type(**values)


# --- versions and upgrades -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: turns a file at `source` version into one at `target`, inside the caller's transaction."""

    source: int
    target: int
    apply: Callable[[sqlite3.Connection], None]


def upgrade(connection: sqlite3.Connection, name: str) -> int:
    """Bring the file to SCHEMA_VERSION in one transaction; returns the version found.

    The version is read under the write lock, so two processes opening an old file at once upgrade
    it once. Any failure rolls everything back: the file is left exactly as it was. A file already
    at SCHEMA_VERSION is only read (versions never go down): opening it writes nothing and waits
    for no writer, so a reader (`tradebot health`, the dashboard) works while the disk is full.
    """
    if int(connection.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    connection.execute("BEGIN IMMEDIATE")
    try:
        found = version = detect_version(connection, name)
        while version < SCHEMA_VERSION:
            step = next(step for step in MIGRATIONS if step.source == version)
            try:
                step.apply(connection)
            except StorageError as error:
                raise StorageError(f"{name}: {error}") from None
            version = step.target
        connection.execute(f"PRAGMA user_version = {version:d}")
        connection.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):  # a failed rollback must not hide why the upgrade failed
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        raise
    return found


def detect_version(connection: sqlite3.Connection, name: str) -> int:
    """`user_version`, or 0 for an empty file and 1 for the original system's (which left it at 0)."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{name}: schema version {version} is newer than this tradebot supports ({SCHEMA_VERSION}); "
            "upgrade tradebot to open it"
        )
    if version:
        return version
    tables = _tables(connection)
    if not tables:
        return 0
    if tables & set(V1_TABLES):
        return 1
    raise SchemaVersionError(f"{name}: not a tradebot database (unknown tables: {', '.join(sorted(tables))})")


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows if not row[0].startswith("sqlite_")}


def _create_version_2(connection: sqlite3.Connection) -> None:
    # statement by statement: executescript() would commit the caller's transaction first
    for statement in VERSION_2:
        connection.execute(statement)


def _create_version_3(connection: sqlite3.Connection) -> None:
    for statement in VERSION_3:
        connection.execute(statement)


def _upgrade_version_3(connection: sqlite3.Connection) -> None:
    for statement in VERSION_4:
        connection.execute(statement)
    rows = connection.execute("SELECT market, volume, entry_price FROM coin_position WHERE mode = 'LIVE'")
    for market, volume, entry in rows.fetchall():
        own_volume, own_entry = _own_position(connection, str(market))
        if Decimal(volume) == own_volume and _close(entry, own_entry):
            continue
        connection.execute(
            "UPDATE coin_position SET origin = 'adopted' WHERE mode = 'LIVE' AND market = ?", (market,)
        )
    _allow_dust_audits(connection)


def _close(stored: str | None, own_entry: Decimal | None) -> bool:
    """True when the stored entry is the bot's own fills' average, up to ENTRY_TOLERANCE."""
    if stored is None or own_entry is None:
        return False
    return abs(Decimal(stored) - own_entry) <= own_entry * ENTRY_TOLERANCE


def _own_position(connection: sqlite3.Connection, market: str) -> tuple[Decimal, Decimal | None]:
    """Volume and average entry of the bot's own filled LIVE orders in `market` (oldest first)."""
    sql = (
        "SELECT side, executed_volume, average_price FROM orders WHERE mode = 'LIVE' AND market = ? "
        "AND state IN ('done', 'cancel') AND executed_volume IS NOT NULL ORDER BY id"
    )
    volume, cost = Decimal(0), Decimal(0)
    for side, executed, price in connection.execute(sql, (market,)).fetchall():
        amount = Decimal(executed)
        if side == "bid":
            volume, cost = volume + amount, cost + amount * Decimal(price or 0)
            continue
        remaining = max(volume - amount, Decimal(0))
        cost = cost * remaining / volume if volume else Decimal(0)  # a sale keeps the entry price
        volume = remaining
    return volume, (cost / volume if volume else None)


def _allow_dust_audits(connection: sqlite3.Connection) -> None:
    """Rebuild `trade_audit` with ORDER_OR_DUST in place of ORDER_REQUIRED, rows and ids kept."""
    [create] = [statement for statement in VERSION_2 if statement.startswith("CREATE TABLE trade_audit ")]
    rebuilt = create.replace("CREATE TABLE trade_audit ", "CREATE TABLE trade_audit_v4 ", 1)
    if ORDER_REQUIRED not in rebuilt:
        raise StorageError("trade_audit's version 2 layout is not the one this upgrade rebuilds")
    connection.execute(rebuilt.replace(ORDER_REQUIRED, ORDER_OR_DUST))
    connection.execute("INSERT INTO trade_audit_v4 SELECT * FROM trade_audit")
    connection.execute("DROP TABLE trade_audit")
    connection.execute("ALTER TABLE trade_audit_v4 RENAME TO trade_audit")
    connection.execute("CREATE INDEX trade_audit_by_time ON trade_audit (executed_at)")


def _upgrade_version_1(connection: sqlite3.Connection) -> None:
    present = _tables(connection) & set(V1_TABLES)
    for table in sorted(present):
        connection.execute(f'ALTER TABLE "{table}" RENAME TO "v1_{table}"')
    _create_version_2(connection)
    now = encode_time(datetime.now(UTC))
    if "users" in present:
        rows = connection.execute("SELECT username, updated_at FROM v1_users ORDER BY id").fetchall()
        for username, updated_at in rows:
            connection.execute(
                "INSERT OR REPLACE INTO users (username, created_at) VALUES (?, ?)",
                (str(username), _legacy_time(updated_at, now)),
            )
    if "account" in present:
        _copy_version_1_account(connection, now)
    if "coin_position" in present:
        _copy_version_1_positions(connection, now)


def _copy_version_1_account(connection: sqlite3.Connection, now: int) -> None:
    row = connection.execute("SELECT virtual_krw, updated_at FROM v1_account ORDER BY id DESC").fetchone()
    if row is not None:
        connection.execute(
            "INSERT INTO account (mode, krw_balance, updated_at) VALUES ('TEST', ?, ?)",
            (_legacy_decimal(row[0], "account.virtual_krw"), _legacy_time(row[1], now)),
        )


def _copy_version_1_positions(connection: sqlite3.Connection, now: int) -> None:
    rows = connection.execute("SELECT ticker, virtual_coin, updated_at FROM v1_coin_position ORDER BY id")
    for ticker, volume, updated_at in rows.fetchall():
        amount = _legacy_decimal(volume, "coin_position.virtual_coin")
        if Decimal(amount) > 0:
            # The original never stored an entry price: it stays NULL, which the engine must treat
            # as an alarm (LESSONS.md #8), not as a position without stops.
            connection.execute(
                "INSERT OR REPLACE INTO coin_position (mode, market, volume, updated_at) "
                "VALUES ('TEST', ?, ?, ?)",
                (str(ticker), amount, _legacy_time(updated_at, now)),
            )


def _legacy_decimal(value: object, where: str) -> str:
    try:
        number = to_decimal(value) if isinstance(value, int | float | str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise StorageError(f"cannot upgrade: {where} holds {value!r}, which is not a number")
    return encode_decimal(number)


def _legacy_time(value: object, fallback: int) -> int:
    if not isinstance(value, str):
        return fallback
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return fallback
    return encode_time(moment if moment.tzinfo else moment.replace(tzinfo=KST))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(source=0, target=2, apply=_create_version_2),
    Migration(source=1, target=2, apply=_upgrade_version_1),
    Migration(source=2, target=3, apply=_create_version_3),
    Migration(source=3, target=4, apply=_upgrade_version_3),
)
