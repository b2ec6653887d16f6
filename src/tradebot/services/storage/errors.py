"""Storage errors, and the one place an `sqlite3.Error` becomes one of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tradebot.core.errors import TradebotError

# SQLite result codes (prefixes of the extended names) of a file that cannot be used right now.
UNAVAILABLE = (
    ("SQLITE_BUSY", "the database is locked by another program"),
    ("SQLITE_LOCKED", "the database is locked by another connection"),
    ("SQLITE_FULL", "the disk is full"),
    ("SQLITE_IOERR", "disk I/O error"),
    ("SQLITE_READONLY", "the file cannot be written"),
    ("SQLITE_CANTOPEN", "the file cannot be opened"),
)


class StorageError(TradebotError):
    """A database could not be opened, read or written; the message is one line."""


class SchemaVersionError(StorageError):
    """The file was written by a newer tradebot (or is not a tradebot database); it was not changed."""


class CorruptDatabaseError(StorageError):
    """The file is not an SQLite database, or it is damaged."""


class DatabaseUnavailableError(StorageError):
    """The file cannot be used now (locked, disk full, I/O error): nothing changed; retry later."""


@contextmanager
def translated(name: str) -> Iterator[None]:
    """Turn any `sqlite3.Error` raised in the block into the StorageError that says what happened."""
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
