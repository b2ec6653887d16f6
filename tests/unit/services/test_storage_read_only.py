"""`Store.open_read_only`: reads an existing database without creating, upgrading or writing anything."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.services.paths import database_path
from tradebot.services.records import CommandRequest
from tradebot.services.storage import SchemaVersionError, StorageError, Store
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_open_read_only_reads_rows_and_refuses_writes(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, NOW)
    with Store.open_read_only(database_path(tmp_path, "alice")) as store:
        account = store.account("TEST")
        assert account is not None
        with pytest.raises(StorageError, match="readonly"), store.transaction() as transaction:
            transaction.submit_command(CommandRequest(kind="stop", requested_by="alice", requested_at=NOW))
    with Store.open_read_only(database_path(tmp_path, "alice")) as store:
        assert store.recent_commands() == []


def test_open_read_only_missing_file_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        Store.open_read_only(database_path(tmp_path, "alice"))
    assert list(tmp_path.iterdir()) == []


def test_open_read_only_old_schema_refused_unchanged(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, NOW)
    path = database_path(tmp_path, "alice")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA user_version = 2")
    with pytest.raises(SchemaVersionError, match="needs an upgrade"):
        Store.open_read_only(path)
