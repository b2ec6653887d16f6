"""Backups and restores of one user's database and settings files.

A backup goes through SQLite's online backup API: one consistent state of the file, taken while
the engine keeps trading (WAL lets the copy read while the engine writes), written as a single
self-contained file (journal mode DELETE: no `-wal` to lose or to mix up) and checked with
`integrity_check` before it is kept. The user's params and conditions files go next to it.

A restore checks the backup first (a copy of it, never the original: `integrity_check`, a schema
this tradebot knows, the user's own row), sets the current file and its leftover `-wal`/`-shm`
aside (renamed, never deleted), then renames the checked copy into place. Only the backup's main
file is read: a `-wal` next to it is not applied, since nothing tells it belongs to that copy.
Whoever calls `restore_user` makes sure no engine has the user's file open (`tradebot restore`
holds the engine lock, or finds the file gone: the engine let go of it when it was lost).
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tradebot.core.errors import SettingsError
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.desired_state import DesiredState, desired_state
from tradebot.services.file_modes import PRIVATE_DIRECTORY, create_private_file
from tradebot.services.paths import database_path
from tradebot.services.settings_store import load_conditions, load_params, save_conditions, save_params
from tradebot.services.storage import StorageError, open_user_store
from tradebot.services.storage.files import integrity_problem, journal_paths, set_aside, sync_path
from tradebot.services.users import conditions_path, params_path, validate_username

BUSY_TIMEOUT_SECONDS = 30.0  # a backup waits this long for the engine's write lock, never forever


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did: the file in place, what it set aside, the settings it put back."""

    database: Path
    set_aside: list[Path]
    settings: list[Path]
    desired: DesiredState


def backup_user(home: Path, username: str, target: Path) -> list[Path]:
    """Copy the user's database (consistent, checked) and settings files into `target`; the files."""
    source = database_path(home, username)
    if not source.is_file():
        raise StorageError(f"no database for {username} in {home}")
    target.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
    destination = target / source.name
    settings = [params_path(home, username), conditions_path(home, username)]
    existing = [path for path in [destination, *(target / item.name for item in settings)] if path.exists()]
    if existing:
        raise StorageError(f"{existing[0]} exists already; back up into a new directory")
    partial = target / f".{source.name}.partial"
    partial.unlink(missing_ok=True)
    create_private_file(partial)
    try:
        address = f"{source.absolute().as_uri()}?mode=rw"  # rw: never creates a file
        reader = sqlite3.connect(address, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        with closing(reader), closing(sqlite3.connect(partial)) as writer:
            reader.backup(writer)  # one read transaction: a consistent state, writers go on (WAL)
            _check_copy(writer, username, source)
        sync_path(partial)
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    copied = [destination]
    for path in settings:
        if path.is_file() and not path.is_symlink():
            copied.append(_copy_private(path, target / path.name))
    return copied


def restore_user(home: Path, username: str, backup: Path, now: datetime) -> RestoreResult:
    """Put `backup` in place as the user's database (checked first); see the module docstring."""
    validate_username(username)
    if backup.is_symlink() or not backup.is_file():
        raise StorageError(f"{backup}: not a regular file")
    database = database_path(home, username)
    params, conditions = _backup_settings(backup.parent, username)  # validated before anything moves
    candidate = home / f".{database.name}.restoring"
    candidate.unlink(missing_ok=True)
    create_private_file(candidate)
    try:
        shutil.copyfile(backup, candidate)  # the main file only: a -wal beside the backup is not applied
        with closing(sqlite3.connect(candidate, isolation_level=None)) as connection:
            _check_copy(connection, username, backup)
        sync_path(candidate)
    except BaseException:
        candidate.unlink(missing_ok=True)
        for leftover in journal_paths(candidate):
            leftover.unlink(missing_ok=True)
        raise
    moved = set_aside([database, *journal_paths(database)], now)
    candidate.replace(database)
    restored = _restore_settings(home, username, params, conditions)
    with open_user_store(home, username, create=False) as store:  # upgrades an older schema, WAL on
        desired = desired_state(store)
    return RestoreResult(database, moved, restored, desired)


def _check_copy(connection: sqlite3.Connection, username: str, origin: Path) -> None:
    """Single file (journal DELETE) and sound, or StorageError naming `origin` and what is wrong."""
    try:
        connection.execute("PRAGMA journal_mode = DELETE")  # folds any WAL of the copy into the file
    except sqlite3.DatabaseError as error:
        unreadable = f"refused, not a readable database ({error}); nothing was changed"
        raise StorageError(f"{origin}: {unreadable}") from None
    problem = integrity_problem(connection, username)
    if problem is not None:
        raise StorageError(f"{origin}: refused, {problem}; nothing was changed")


def _backup_settings(folder: Path, username: str) -> tuple[StrategyParams | None, Conditions | None]:
    """The params and conditions files next to a backup, validated (None: not there)."""
    params = params_path(folder, username)
    conditions = conditions_path(folder, username)
    try:
        return (
            load_params(params) if params.exists() or params.is_symlink() else None,
            load_conditions(conditions) if conditions.exists() or conditions.is_symlink() else None,
        )
    except SettingsError as error:
        raise SettingsError(f"the backup's settings are refused, nothing was changed: {error}") from None


def _restore_settings(
    home: Path, username: str, params: StrategyParams | None, conditions: Conditions | None
) -> list[Path]:
    restored = []
    if params is not None:
        save_params(params_path(home, username), params)
        restored.append(params_path(home, username))
    if conditions is not None:
        save_conditions(conditions_path(home, username), conditions)
        restored.append(conditions_path(home, username))
    return restored


def _copy_private(source: Path, destination: Path) -> Path:
    create_private_file(destination)
    shutil.copyfile(source, destination)
    return destination
