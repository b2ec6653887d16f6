"""`tradebot backup` / `tradebot restore` and the services under them (issue 19, finding 1)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.engine.lock_manager import EngineLock
from tradebot.services.backup import backup_user, restore_user
from tradebot.services.paths import HOME_VARIABLE, database_path
from tradebot.services.records import AccountBalance
from tradebot.services.storage import StorageError, open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import params_path

ALICE = "tradebot_alice.db"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    create_user(data, "alice", None, NOW)
    create_user(data, "bob", None, NOW)
    monkeypatch.setenv(HOME_VARIABLE, str(data))
    return data


def account(krw: int) -> AccountBalance:
    return AccountBalance(
        mode="TEST", krw_balance=Decimal(krw), starting_krw=Decimal(1_000_000), updated_at=NOW
    )


def set_balance(home: Path, krw: int) -> None:
    with open_user_store(home, "alice", create=False) as store, store.transaction() as transaction:
        transaction.set_account(account(krw))


def balance(database: Path) -> Decimal:
    with closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT krw_balance FROM account WHERE mode = 'TEST'").fetchone()
    return Decimal(row[0])


def test_backup_user_during_open_write_has_committed_state_single_private_file(
    home: Path, tmp_path: Path
) -> None:
    set_balance(home, 700_000)
    with open_user_store(home, "alice", create=False) as writer, writer.transaction() as transaction:
        transaction.set_account(account(1))  # not committed
        written = backup_user(home, "alice", tmp_path / "backup")
    database = tmp_path / "backup" / "tradebot_alice.db"
    assert written[0] == database
    assert params_path(tmp_path / "backup", "alice") in written
    assert balance(database) == Decimal(700_000)
    assert sorted(path.name for path in (tmp_path / "backup").iterdir()) == sorted(
        path.name for path in written
    )
    assert {path.stat().st_mode & 0o777 for path in written} == {0o600}
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_backup_user_into_directory_holding_one_refused(home: Path, tmp_path: Path) -> None:
    backup_user(home, "alice", tmp_path / "backup")
    with pytest.raises(StorageError, match="exists already"):
        backup_user(home, "alice", tmp_path / "backup")


def test_cli_backup_all_writes_every_user(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", "--all", "--to", str(tmp_path / "all")]) == 0
    assert (tmp_path / "all" / "tradebot_alice.db").exists()
    assert (tmp_path / "all" / "tradebot_bob.db").exists()
    assert "bob: " in capsys.readouterr().out


def test_restore_user_leftover_wal_set_aside_backup_content_in_place(home: Path, tmp_path: Path) -> None:
    set_balance(home, 600_000)
    backup_user(home, "alice", tmp_path / "backup")
    set_balance(home, 500_000)
    database = database_path(home, "alice")
    for suffix in ("-wal", "-shm"):  # a journal left by a file that is no longer there
        database.with_name(database.name + suffix).write_bytes(b"left behind")

    result = restore_user(home, "alice", tmp_path / "backup" / "tradebot_alice.db", NOW)

    assert balance(database) == Decimal(600_000)
    names = sorted(path.name.split(".set-aside-")[0] for path in result.set_aside)
    assert names == ["tradebot_alice.db", "tradebot_alice.db-shm", "tradebot_alice.db-wal"]
    assert (
        balance(next(path for path in result.set_aside if path.name.startswith("tradebot_alice.db.")))
        == 500_000
    )
    assert database.stat().st_mode & 0o777 == 0o600
    assert not list(home.glob(".tradebot_alice.db.restoring*"))


def test_restore_user_damaged_backup_refused_nothing_changed(home: Path, tmp_path: Path) -> None:
    set_balance(home, 400_000)
    backup_user(home, "alice", tmp_path / "backup")
    damaged = tmp_path / "backup" / "tradebot_alice.db"
    content = bytearray(damaged.read_bytes())
    content[4096 + 8 : 4096 + 64] = b"\xff" * 56  # the second page's b-tree header
    damaged.write_bytes(bytes(content))
    before = database_path(home, "alice").read_bytes()
    with pytest.raises(StorageError, match="refused"):
        restore_user(home, "alice", damaged, NOW)
    assert database_path(home, "alice").read_bytes() == before
    assert (
        sorted(path.name for path in home.iterdir() if "alice" in path.name and ".set-aside" in path.name)
        == []
    )


def test_restore_user_other_users_backup_refused(home: Path, tmp_path: Path) -> None:
    backup_user(home, "bob", tmp_path / "backup")
    with pytest.raises(StorageError, match="database of bob, not of alice"):
        restore_user(home, "alice", tmp_path / "backup" / "tradebot_bob.db", NOW)


def test_cli_restore_while_engine_holds_file_refused(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup_user(home, "alice", tmp_path / "backup")
    with EngineLock(home):
        assert (
            main(["restore", "--user", "alice", "--from", str(tmp_path / "backup" / "tradebot_alice.db")])
            == 2
        )
    assert "has alice's database open: stop the engine, then restore" in capsys.readouterr().err


def test_cli_restore_file_gone_while_engine_runs_restores(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup_user(home, "alice", tmp_path / "backup")
    database_path(home, "alice").unlink()
    with EngineLock(home):
        assert (
            main(["restore", "--user", "alice", "--from", str(tmp_path / "backup" / "tradebot_alice.db")])
            == 0
        )
    output = capsys.readouterr().out
    assert "restored alice" in output
    assert "the engine opens alice's restored database on its next cycle" in output


def test_restore_user_not_a_database_refused_one_line(home: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite file at all" * 200)
    with pytest.raises(StorageError, match="refused, not a readable database"):
        restore_user(home, "alice", garbage, NOW)
