"""A database file and its journal (`-wal`, `-shm`): is it safe to open, and setting leftovers aside.

SQLite keeps recent commits in `{name}-wal` and applies them to whatever file is at `{name}` when
it next opens it. When a database is deleted or replaced while a connection still has it open,
its `-wal` and `-shm` stay behind; copying an older file into place then gets the old WAL's pages
applied to it ("database disk image is malformed", or worse, a file that reads fine and mixes two
states). So a journal left by a lost file is set aside, never replayed, and a file is opened for
trading only when `PRAGMA quick_check` says "ok".
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path

from tradebot.services.storage import Reader, StorageError
from tradebot.services.storage.migrations import detect_version

JOURNAL_SUFFIXES = ("-wal", "-shm")
FileIdentity = tuple[int, int]  # (device, inode)
RESTORE_HINT = "tradebot restore --user {username} --from BACKUP_FILE"


def journal_paths(database: Path) -> list[Path]:
    """`{database}-wal` and `{database}-shm` (whether or not they exist)."""
    return [database.with_name(database.name + suffix) for suffix in JOURNAL_SUFFIXES]


def journal_identities(database: Path) -> frozenset[FileIdentity]:
    """(device, inode) of the journal files present next to `database` now."""
    found = set()
    for path in journal_paths(database):
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        found.add((status.st_dev, status.st_ino))
    return frozenset(found)


def stale_journal(database: Path, left_by_lost_file: frozenset[FileIdentity]) -> list[Path]:
    """The journal files next to `database` that a lost (deleted or replaced) file left behind."""
    stale = []
    for path in journal_paths(database):
        try:
            status = path.lstat()
        except FileNotFoundError:
            continue
        if (status.st_dev, status.st_ino) in left_by_lost_file:
            stale.append(path)
    return stale


def set_aside(paths: list[Path], moment: datetime) -> list[Path]:
    """Rename each existing path to `{name}.set-aside-{UTC stamp}` (kept, never deleted); the new names."""
    stamp = moment.strftime("%Y%m%dT%H%M%S%fZ")
    moved = []
    for path in paths:
        if not path.exists() and not path.is_symlink():
            continue
        target = path.with_name(f"{path.name}.set-aside-{stamp}")
        path.rename(target)
        moved.append(target)
    if moved:
        sync_path(moved[0].parent)
    return moved


def quick_check(reader: Reader) -> str | None:
    """None when `PRAGMA quick_check` says "ok" on `reader`'s file, else its findings on one line."""
    try:
        rows = reader.query("PRAGMA quick_check(5)")
    except StorageError as error:
        return f"quick_check failed: {error}"
    findings = [str(row[0]) for row in rows]
    return None if findings == ["ok"] else "quick_check: " + "; ".join(findings)


def integrity_problem(connection: sqlite3.Connection, username: str) -> str | None:
    """Why a file cannot be restored as `username`'s database: damaged, unknown schema, another user's."""
    try:
        findings = [str(row[0]) for row in connection.execute("PRAGMA integrity_check(5)").fetchall()]
        if findings != ["ok"]:
            return "integrity_check: " + "; ".join(findings)
        version = detect_version(connection, "the backup")
        if version < 1:
            return "an empty database (no tradebot tables)"
        users = [str(row[0]) for row in connection.execute("SELECT username FROM users").fetchall()]
    except sqlite3.DatabaseError as error:
        return f"not a readable tradebot database ({error})"
    except Exception as error:  # a newer schema (SchemaVersionError) and the like: said as they are
        return str(error)
    if username not in users:
        return f"it is the database of {', '.join(users) or 'nobody'}, not of {username}"
    return None


def sync_path(path: Path) -> None:
    """fsync a file (its content) or a directory (the renames in it), to survive a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
