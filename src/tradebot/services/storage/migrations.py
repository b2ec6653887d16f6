"""Upgrades of the per-user database from every older schema version to `ddl.SCHEMA_VERSION`.

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
Version 5 (issue 14, notifications) adds `notify_settings`, `notify_secrets` and `notify_outbox`
(read and written by `services.notifications`); upgrading 4 -> 5 only creates them.
Version 6 (issue 14, exactly once per channel) rebuilds `notify_outbox` with a `channel` column and
a `dropped` status: one row per channel, and lets `kind` be any lower-case name (issue 17's
`protection` and later events need no rebuild). Rows already sent or dead keep `channel` NULL (they went
to every channel at once); each pending row becomes one row per channel configured at the upgrade
(the first keeps the row's id, the others get new ids in the same order, so each channel still
delivers oldest first); a pending row of a user without any channel is `dropped`.
Version 7 (issue 18) adds `user_preferences` (the dashboard's language; `services.preferences`);
upgrading 6 -> 7 only creates it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from tradebot.core.krw_rules import to_decimal
from tradebot.services.storage.codecs import KST, encode_decimal, encode_time
from tradebot.services.storage.ddl import (
    ORDER_OR_DUST,
    ORDER_REQUIRED,
    SCHEMA_VERSION,
    V1_TABLES,
    VERSION_2,
    VERSION_3,
    VERSION_4,
    VERSION_5,
    VERSION_6,
    VERSION_7,
)
from tradebot.services.storage.errors import SchemaVersionError, StorageError

# How far a stored entry may sit from the bot's own fills' average and still be theirs: the old
# code stored Upbit's `avg_buy_price`, which rounds the same fills slightly differently.
ENTRY_TOLERANCE = Decimal("0.001")


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


def _create_version_5(connection: sqlite3.Connection) -> None:
    for statement in VERSION_5:
        connection.execute(statement)


OUTBOX_COLUMNS = "kind, level, text, attempts, next_attempt_at, last_error, sent_at, created_at"


def _upgrade_version_5(connection: sqlite3.Connection) -> None:
    """Version 6: one outbox row per channel (see the module docstring and `ddl.VERSION_6`)."""
    create_table, create_index = VERSION_6
    connection.execute(create_table)
    columns = OUTBOX_COLUMNS
    # Fixed column lists only, never input.
    connection.execute(
        f"INSERT INTO notify_outbox_v6 (id, channel, status, {columns}) "  # noqa: S608
        f"SELECT id, NULL, status, {columns} FROM notify_outbox WHERE status <> 'pending' ORDER BY id"
    )
    channels = _outbox_channels(connection)
    first = channels[0] if channels else None
    connection.execute(
        f"INSERT INTO notify_outbox_v6 (id, channel, status, {columns}) "  # noqa: S608
        f"SELECT id, ?, ?, {columns} FROM notify_outbox WHERE status = 'pending' ORDER BY id",
        (first, "pending" if first else "dropped"),
    )
    for channel in channels[1:]:
        connection.execute(
            f"INSERT INTO notify_outbox_v6 (channel, status, {columns}) "  # noqa: S608
            f"SELECT ?, 'pending', {columns} FROM notify_outbox WHERE status = 'pending' ORDER BY id",
            (channel,),
        )
    connection.execute("DROP TABLE notify_outbox")
    connection.execute("ALTER TABLE notify_outbox_v6 RENAME TO notify_outbox")
    connection.execute(create_index)


def _outbox_channels(connection: sqlite3.Connection) -> list[str]:
    """The channels configured now, as `notifications.config.has_channel` reads them."""
    secrets = connection.execute(
        "SELECT telegram_token_ciphertext, webhook_url_ciphertext FROM notify_secrets"
    ).fetchone()
    chat = connection.execute(
        "SELECT json_extract(settings, '$.telegram_chat_id') FROM notify_settings"
    ).fetchone()
    if secrets is None:
        return []
    token, url = secrets
    telegram = token is not None and chat is not None and chat[0] is not None
    return [*(["telegram"] if telegram else []), *(["webhook"] if url is not None else [])]


def _create_version_7(connection: sqlite3.Connection) -> None:
    for statement in VERSION_7:
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
    Migration(source=4, target=5, apply=_create_version_5),
    Migration(source=5, target=6, apply=_upgrade_version_5),
    Migration(source=6, target=7, apply=_create_version_7),
)
