"""Schema versions: every earlier file upgrades in place; newer, foreign and damaged files are refused."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.errors import TradebotError
from tradebot.services.storage import (
    SCHEMA_VERSION,
    CorruptDatabaseError,
    SchemaVersionError,
    StorageError,
    Store,
)
from tradebot.services.storage.ddl import VERSION_2, VERSION_3
from tradebot.services.storage.migrations import MIGRATIONS

# The original system's file (the seed's seven tables as its init_db created them): naive KST text
# times, REAL money, no key on evaluations, and PRAGMA user_version never set (so it reads 0).
# Frozen here on purpose: the upgrade must keep working on files that already exist.
VERSION_1_DDL = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT UNIQUE NOT NULL, display_name TEXT,
    virtual_krw INTEGER DEFAULT 1000000, updated_at TEXT);
CREATE TABLE IF NOT EXISTS account (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, virtual_krw REAL NOT NULL, updated_at TEXT);
CREATE TABLE IF NOT EXISTS coin_position (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, ticker TEXT NOT NULL,
    virtual_coin REAL NOT NULL, updated_at TEXT);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, timestamp TEXT, ticker TEXT, side TEXT,
    price REAL, volume REAL, status TEXT, current_krw REAL, current_coin REAL, profit_krw REAL);
CREATE TABLE IF NOT EXISTS buy_eval (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, timestamp TEXT, ticker TEXT, interval_sec INTEGER,
    bar INTEGER, price REAL, macd REAL, signal REAL, have_position INTEGER, overall_ok INTEGER,
    failed_keys TEXT, checks TEXT, notes TEXT);
CREATE TABLE IF NOT EXISTS sell_eval (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, timestamp TEXT, ticker TEXT, interval_sec INTEGER,
    bar INTEGER, price REAL, macd REAL, signal REAL, tp_price REAL, sl_price REAL, highest REAL,
    ts_pct REAL, ts_armed INTEGER, bars_held INTEGER, checks TEXT, triggered INTEGER, trigger_key TEXT,
    notes TEXT);
CREATE TABLE IF NOT EXISTS trade_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, timestamp TEXT, ticker TEXT, interval_sec INTEGER,
    bar INTEGER, kind TEXT, macd REAL, signal REAL, entry_price REAL, entry_bar INTEGER, bars_held INTEGER,
    tp REAL, sl REAL, highest REAL, ts_pct REAL, ts_armed INTEGER);
CREATE INDEX IF NOT EXISTS idx_buy_eval_ts ON buy_eval (timestamp);
"""

VERSION_1_ROWS = """
INSERT INTO users (username, display_name, virtual_krw, updated_at)
    VALUES ('alice', 'Alice', 1000000, '2025-11-20 09:30:00');
INSERT INTO account (user_id, virtual_krw, updated_at) VALUES ('alice', 1000000.0, '2025-11-20 09:30:00');
INSERT INTO account (user_id, virtual_krw, updated_at) VALUES ('alice', 987654.321, '2025-11-21 10:00:00');
INSERT INTO coin_position (user_id, ticker, virtual_coin, updated_at)
    VALUES ('alice', 'KRW-BTC', 0.00012345, '2025-11-21 10:00:00');
INSERT INTO coin_position (user_id, ticker, virtual_coin, updated_at)
    VALUES ('alice', 'KRW-ETH', 0.0, '2025-11-21 10:00:00');
INSERT INTO orders (user_id, timestamp, ticker, side, price, volume, status, current_krw, current_coin,
    profit_krw) VALUES ('alice', '2025-11-21 10:00:00', 'KRW-BTC', 'BUY', 102945000.0, 0.00012345,
    'REQUESTED', 987654.321, 0.00012345, NULL);
INSERT INTO buy_eval (user_id, timestamp, ticker, interval_sec, bar, price, macd, signal, overall_ok, checks)
    VALUES ('alice', '2025-11-21 09:45:00', 'KRW-BTC', 900, 10, 102945000.0, 1500.5, 1200.25, 1, '{}');
INSERT INTO buy_eval (user_id, timestamp, ticker, interval_sec, bar, price, macd, signal, overall_ok, checks)
    VALUES ('alice', '2025-11-21 09:45:00', 'KRW-BTC', 900, 10, 102950000.0, 1510.0, 1201.0, 0, '{}');
INSERT INTO sell_eval (user_id, timestamp, ticker, interval_sec, bar, price, bars_held, triggered)
    VALUES ('alice', '2025-11-21 10:00:00', 'KRW-BTC', 900, 11, 102900000.0, 1, 0);
INSERT INTO trade_audit (user_id, timestamp, ticker, interval_sec, bar, kind, entry_price)
    VALUES ('alice', '2025-11-21 10:00:00', 'KRW-BTC', 900, 11, 'BUY', 102945000.0);
"""


def build_empty(path: Path) -> None:
    path.touch()


def build_version_1(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(VERSION_1_DDL + VERSION_1_ROWS)


def build_version_2(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        for statement in VERSION_2:
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 2")


def build_version_3(path: Path) -> None:
    with closing(sqlite3.connect(path)) as connection:
        for statement in (*VERSION_2, *VERSION_3):
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 3")


def _apply_step(path: Path, source: int) -> None:
    """Upgrade the file at `path` from version `source` by one migration step, as it was released."""
    [step] = [step for step in MIGRATIONS if step.source == source]
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        connection.execute("BEGIN")
        step.apply(connection)
        connection.execute(f"PRAGMA user_version = {step.target:d}")
        connection.execute("COMMIT")


def build_version_4(path: Path) -> None:
    build_version_3(path)
    _apply_step(path, 3)


def build_version_5(path: Path) -> None:
    build_version_4(path)
    _apply_step(path, 4)


def build_version_6(path: Path) -> None:
    build_version_5(path)
    _apply_step(path, 5)


# Every version a file on disk can be at, except the current one; a new schema version must add
# the builder of the version it replaces (see test_every_earlier_version_has_a_builder).
EARLIER_VERSIONS: dict[int, Callable[[Path], None]] = {
    0: build_empty,
    1: build_version_1,
    2: build_version_2,
    3: build_version_3,
    4: build_version_4,
    5: build_version_5,
    6: build_version_6,
}


def schema_of(path: Path) -> list[tuple[str, str, str]]:
    """Tables and indexes of the current layout (the kept `v1_*` tables aside)."""
    sql = (
        "SELECT type, name, sql FROM sqlite_master WHERE substr(tbl_name, 1, 3) <> 'v1_' "
        "AND name NOT LIKE 'sqlite%' ORDER BY name"
    )
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql).fetchall()


def rows_of(path: Path, table: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def fresh_schema(tmp_path: Path) -> list[tuple[str, str, str]]:
    path = tmp_path / "fresh.db"
    Store.open(path).close()
    return schema_of(path)


def test_every_earlier_version_has_a_builder() -> None:
    assert set(EARLIER_VERSIONS) == set(range(SCHEMA_VERSION))
    assert {step.source for step in MIGRATIONS} == set(range(SCHEMA_VERSION))
    assert all(step.source < step.target <= SCHEMA_VERSION for step in MIGRATIONS)


@pytest.mark.parametrize("version", sorted(EARLIER_VERSIONS))
def test_earlier_version_file_opened_is_upgraded_to_current_layout(
    tmp_path: Path, version: int, fresh_schema: list[tuple[str, str, str]]
) -> None:
    path = tmp_path / "tradebot_alice.db"
    EARLIER_VERSIONS[version](path)
    Store.open(path).close()
    assert user_version(path) == SCHEMA_VERSION
    assert schema_of(path) == fresh_schema


AUDIT_COLUMNS = (
    "mode, market, side, order_identifier, fill_price, volume, fee, params_version, "
    "conditions_version, cause, rule, executed_at"
)


def test_version_3_file_upgraded_keeps_audit_rows_and_accepts_dust_without_order(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_3(path)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "INSERT INTO settings_history (version, kind, content, content_hash, saved_at, saved_by) "
            "VALUES (1, 'params', '{}', 'd', 1, 'engine')"
        )
        connection.execute(
            f"INSERT INTO trade_audit ({AUDIT_COLUMNS}) "  # noqa: S608 - constant column list
            "VALUES ('LIVE', 'KRW-BTC', 'bid', NULL, '100', '1', '0', 1, 1, 'manual', NULL, 7)"
        )
        connection.commit()
    before = rows_of(path, "trade_audit")
    Store.open(path).close()
    assert rows_of(path, "trade_audit") == before
    dust = "VALUES ('LIVE', 'KRW-BTC', 'ask', NULL, '90', '1', '0', 1, 1, 'strategy', 'dust', 8)"
    unsent = "VALUES ('LIVE', 'KRW-BTC', 'ask', NULL, '90', '1', '0', 1, 1, 'strategy', 'stop_loss', 9)"
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(f"INSERT INTO trade_audit ({AUDIT_COLUMNS}) {dust}")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute(f"INSERT INTO trade_audit ({AUDIT_COLUMNS}) {unsent}")


def test_version_1_file_upgraded_in_place_with_rows_kept(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_1(path)
    old_rows = {table: rows_of(path, table) for table in ("orders", "buy_eval", "sell_eval", "trade_audit")}
    inode = path.stat().st_ino
    with Store.open(path) as store:
        account = store.account("TEST")
        positions = store.positions("TEST")
        user = store.user("alice")
    assert path.stat().st_ino == inode
    assert account is not None
    assert account.krw_balance == Decimal("987654.321")  # the newest row, exact, not 987654.32099999...
    assert account.starting_krw == Decimal(1_000_000)
    assert [(item.market, item.volume) for item in positions] == [("KRW-BTC", Decimal("0.00012345"))]
    assert positions[0].entry_price is None  # never recorded by the original: an alarm for the engine
    assert user is not None
    assert user.password_hash is None
    assert user.created_at == datetime(2025, 11, 20, 0, 30, tzinfo=UTC)  # 09:30 KST
    for table, rows in old_rows.items():
        assert rows_of(path, f"v1_{table}") == rows


def test_version_1_file_with_some_tables_upgraded(
    tmp_path: Path, fresh_schema: list[tuple[str, str, str]]
) -> None:
    path = tmp_path / "tradebot_alice.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            "CREATE TABLE account (id INTEGER PRIMARY KEY, user_id TEXT, virtual_krw REAL, updated_at TEXT);"
            "INSERT INTO account (user_id, virtual_krw, updated_at) VALUES ('alice', 5000, 'not a time');"
        )
    with Store.open(path) as store:
        account = store.account("TEST")
    assert account is not None
    assert account.krw_balance == Decimal(5000)
    assert schema_of(path) == fresh_schema


def test_upgraded_file_reopened_is_not_changed_again(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_1(path)
    Store.open(path).close()
    before = {table: rows_of(path, table) for table in ("account", "coin_position", "users", "v1_account")}
    Store.open(path).close()
    assert {table: rows_of(path, table) for table in before} == before
    assert user_version(path) == SCHEMA_VERSION


def test_version_1_file_opened_by_two_connections_at_once_upgraded_once(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_1(path)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            start.wait()
            Store.open(path).close()
        except BaseException as error:  # reported below; a thread's exception is otherwise lost
            errors.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(rows_of(path, "account")) == 1
    assert len(rows_of(path, "v1_account")) == 2


def test_file_from_newer_tradebot_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript("CREATE TABLE future (x); PRAGMA user_version = 99;")
    before = path.read_bytes()
    with pytest.raises(
        SchemaVersionError, match=rf"schema version 99 is newer .* supports \({SCHEMA_VERSION}\)"
    ) as error:
        Store.open(path)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)
    assert path.read_bytes() == before
    assert sorted(item.name for item in tmp_path.iterdir()) == [path.name]


def test_file_with_foreign_tables_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as connection:
        connection.executescript(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (1);"
        )
    before = path.read_bytes()
    with pytest.raises(SchemaVersionError, match="not a tradebot database"):
        Store.open(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"this is a text file, not a database\n" * 50, b"\x00\xff" * 4096])
def test_non_sqlite_file_refused_with_one_line_and_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tradebot_alice.db"
    path.write_bytes(content)
    with pytest.raises(CorruptDatabaseError) as error:
        Store.open(path)
    assert isinstance(error.value, TradebotError)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)
    assert path.read_bytes() == content


def test_damaged_database_page_refused_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    Store.open(path).close()
    damaged = bytearray(path.read_bytes())
    damaged[100:164] = b"\xff" * 64  # the schema page's b-tree header, just after the file header
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptDatabaseError, match="malformed"):
        Store.open(path)


def test_failed_upgrade_rolls_back_and_names_the_value(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_1(path)
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("INSERT INTO account (user_id, virtual_krw) VALUES ('alice', 'lots')")
    before = path.read_bytes()
    with pytest.raises(
        StorageError, match=r"tradebot_alice\.db: cannot upgrade: account\.virtual_krw"
    ) as error:
        Store.open(path)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == before
    assert user_version(path) == 0
    assert len(rows_of(path, "account")) == 3


# --- version 4: positions the bot owns ----------------------------------------------------------

BOT_BUY = (
    "INSERT INTO orders (identifier, mode, market, side, ord_type, price, state, executed_volume, "
    "average_price, paid_fee, requested_at, updated_at) VALUES (?, 'LIVE', ?, ?, ?, '10000', 'done', ?, ?, "
    "'5', 1, 1)"
)
POSITION = (
    "INSERT INTO coin_position (mode, market, volume, entry_price, peak_price, bars_held, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 3, 1)"
)


def build_version_3_with_positions(path: Path) -> None:
    """LIVE positions as version 3 stored them: taken from the account's balance and avg_buy_price."""
    build_version_3(path)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            BOT_BUY, ("tb.a.live.KRW-BTC.60.bid.1", "KRW-BTC", "bid", "price", "0.0001", "100000000")
        )
        connection.execute(
            BOT_BUY, ("tb.a.live.KRW-ETH.60.bid.1", "KRW-ETH", "bid", "price", "0.002", "5000000")
        )
        connection.execute(
            BOT_BUY, ("tb.a.live.KRW-ETH.120.ask.1", "KRW-ETH", "ask", "market", "0.001", "5100000")
        )
        # BTC: exactly the bot's own buy (Upbit's avg_buy_price rounds the same fill a little differently)
        connection.execute(POSITION, ("LIVE", "KRW-BTC", "0.0001", "100000010", "101000000"))
        # ETH: the bot holds 0.001 at 5,000,000, the account held more: adopted from the balance
        connection.execute(POSITION, ("LIVE", "KRW-ETH", "0.051", "4000000", "4000000"))
        # XRP: deposited coins, never bought by the bot, avg_buy_price 0 (no entry)
        connection.execute(POSITION, ("LIVE", "KRW-XRP", "100", None, None))
        # TEST positions are the paper ledger's own fills: never adopted
        connection.execute(POSITION, ("TEST", "KRW-XRP", "100", "700", "700"))
        connection.commit()


def test_version_3_live_positions_not_explained_by_own_orders_marked_adopted(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_3_with_positions(path)
    with Store.open(path) as store:
        live = {item.market: item for item in store.positions("LIVE")}
        test = store.positions("TEST")
    assert {market: item.origin for market, item in live.items()} == {
        "KRW-BTC": "bot", "KRW-ETH": "adopted", "KRW-XRP": "adopted",
    }  # fmt: skip
    assert live["KRW-ETH"].volume == Decimal("0.051")  # kept as it was, for the user to decide
    assert live["KRW-ETH"].bars_held == 3
    assert [item.origin for item in test] == ["bot"]


def test_version_3_orders_upgraded_without_intent_then_new_rows_keep_it(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_3_with_positions(path)
    with Store.open(path) as store:
        order = store.order("tb.a.live.KRW-BTC.60.bid.1")
        decisions = store.position_decisions()
    assert order is not None
    assert (order.cause, order.rule, order.command_id, order.requested_by) == (None, None, None, None)
    assert decisions == []


def test_version_3_upgrade_reopened_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_3_with_positions(path)
    Store.open(path).close()
    before = rows_of(path, "coin_position")
    Store.open(path).close()
    assert rows_of(path, "coin_position") == before
    assert user_version(path) == SCHEMA_VERSION == 7


OUTBOX_COLUMNS = "kind, level, text, status, attempts, next_attempt_at, created_at"


def test_version_5_file_upgraded_keeps_outbox_rows_and_accepts_protection_events(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_5(path)
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            f"INSERT INTO notify_outbox ({OUTBOX_COLUMNS}) "  # noqa: S608 - constant column list
            "VALUES ('fill', 'on', 'bought', 'pending', 0, 5, 5)"
        )
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):  # version 5 knows no protection kind
            connection.execute(
                f"INSERT INTO notify_outbox ({OUTBOX_COLUMNS}) "  # noqa: S608 - constant column list
                "VALUES ('protection', 'on', 'paused', 'pending', 0, 6, 6)"
            )
        connection.commit()
    Store.open(path).close()
    with closing(sqlite3.connect(path)) as connection:
        kept = connection.execute("SELECT id, kind, text FROM notify_outbox").fetchall()
    assert kept == [(1, "fill", "bought")]  # pending without a channel: kept, marked dropped
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            f"INSERT INTO notify_outbox (channel, {OUTBOX_COLUMNS}) "  # noqa: S608 - constant column list
            "VALUES ('telegram', 'protection', 'on', 'paused', 'pending', 0, 6, 6)"
        )
        for bad in ("", "Fill", "fill; drop"):
            with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
                connection.execute(
                    f"INSERT INTO notify_outbox (channel, {OUTBOX_COLUMNS}) "  # noqa: S608 - constant list
                    "VALUES ('telegram', ?, 'on', 'x', 'pending', 0, 7, 7)",
                    (bad,),
                )
