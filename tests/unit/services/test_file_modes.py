"""Owner-only data: the directory 0700, databases, WAL, SHM, settings and logs 0600 (issue 19, finding 4)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.services.file_modes import make_home_private, write_file_atomically
from tradebot.services.paths import HOME_VARIABLE, database_path
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path

LOOSE_UMASK = 0o022  # the usual default: files 0644, directories 0755


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The process umask as most installs have it; put back afterwards (main() tightens it)."""
    previous = os.umask(LOOSE_UMASK)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_open_user_store_new_database_with_loose_umask_is_owner_only(
    tmp_path: Path, loose_umask: None
) -> None:
    home = tmp_path / "home"
    with open_user_store(home, "alice") as store, store.transaction() as transaction:
        transaction.execute("CREATE TABLE scratch (value INTEGER)")
        assert store.path.with_name(store.path.name + "-wal").exists()
        journal = [mode(store.path.with_name(store.path.name + suffix)) for suffix in ("-wal", "-shm")]
    assert (mode(home), mode(database_path(home, "alice")), journal) == (0o700, 0o600, [0o600, 0o600])


def test_create_user_with_loose_umask_every_file_owner_only(tmp_path: Path, loose_umask: None) -> None:
    create_user(tmp_path, "alice", "correct horse battery", datetime.now(UTC))
    files = {path.name: mode(path) for path in tmp_path.iterdir() if path.is_file()}
    assert files[database_path(tmp_path, "alice").name] == 0o600
    assert files[params_path(tmp_path, "alice").name] == 0o600
    assert files[conditions_path(tmp_path, "alice").name] == 0o600
    assert {name: value for name, value in files.items() if value != 0o600} == {}


def test_cli_existing_install_readable_by_others_fixed_on_start_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], loose_umask: None
) -> None:
    home = tmp_path / "data"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)  # noqa: S103 - an old install's directory, as the finding found it
    database = database_path(home, "alice")
    with closing(sqlite3.connect(database)) as connection:  # an old install's file: 0644
        connection.execute("CREATE TABLE old (value INTEGER)")
    log = home / "engine.log"
    log.write_text("old log\n")
    os.chmod(database, 0o644)
    os.chmod(log, 0o644)
    monkeypatch.setenv(HOME_VARIABLE, str(home))

    main(["user", "add", "bob", "--no-password"])

    lines = [line for line in capsys.readouterr().err.splitlines() if "owner-only" in line]
    assert len(lines) == 1
    assert "readable by other local users before" in lines[0]
    assert (mode(home), mode(database), mode(log)) == (0o700, 0o600, 0o600)
    assert {path.name: mode(path) for path in home.iterdir() if mode(path) != 0o600} == {}
    main(["user", "add", "carol", "--no-password"])
    assert "owner-only" not in capsys.readouterr().err  # said once, when something was fixed


def test_make_home_private_symlink_left_alone_and_target_unchanged(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours\n")
    os.chmod(outside, 0o644)
    home = tmp_path / "home"
    home.mkdir()
    (home / "link").symlink_to(outside)
    make_home_private(home)
    assert mode(outside) == 0o644


def test_write_file_atomically_under_loose_umask_replaces_content_owner_only(
    tmp_path: Path, loose_umask: None
) -> None:
    target = tmp_path / "nested" / "settings.json"

    write_file_atomically(target, "first\n")
    write_file_atomically(target, b"second\n", durable=False)

    assert target.read_bytes() == b"second\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in target.parent.iterdir()] == ["settings.json"]


def test_write_file_atomically_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()  # a directory where the file should go: the rename fails

    with pytest.raises(OSError, match="occupied"):
        write_file_atomically(target, "text")

    assert [path.name for path in tmp_path.iterdir()] == ["occupied"]
    assert target.is_dir()
