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
`codecs`; the tables are in `ddl`, their upgrades in `migrations`, the queries in `reader` and the
writes in `transaction`. Nothing here logs, and no column holds a password or an API key in clear.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from types import TracebackType

from tradebot.services.file_modes import PRIVATE_DIRECTORY, create_private_file
from tradebot.services.paths import database_path
from tradebot.services.storage.ddl import SCHEMA_VERSION
from tradebot.services.storage.errors import SchemaVersionError, StorageError, translated
from tradebot.services.storage.migrations import detect_version, upgrade
from tradebot.services.storage.reader import Reader
from tradebot.services.storage.transaction import Transaction

DEFAULT_BUSY_TIMEOUT_MS = 5000
# Entered around every write transaction (`Store.gate_writes`); may raise to refuse the write.
WriteGate = Callable[[], AbstractContextManager[object]]


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, or None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class Store(Reader):
    """An open per-user database; use as a context manager or call `close()`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        super().__init__(connection, str(path))
        self.path = path
        self._identity = _file_identity(path)
        self._write_gate: WriteGate = nullcontext

    def gate_writes(self, gate: WriteGate) -> None:
        """Run every later write transaction inside `gate()`, which may refuse it by raising.

        The engine's lease on a user: a runner thread it replaced (stuck in a request) can never
        commit again, not even half way through a cycle it finishes late.
        """
        self._write_gate = gate

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
        with translated(str(path)):
            connection = sqlite3.connect(
                target, isolation_level=None, timeout=busy_timeout_ms / 1000, uri=not create
            )
        try:
            with translated(str(path)):
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
        with translated(str(path)):
            connection = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro",
                isolation_level=None,
                timeout=busy_timeout_ms / 1000,
                uri=True,
            )
        try:
            with translated(str(path)):
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
        with self._write_gate(), self._write_transaction(durable) as transaction:
            yield transaction

    @contextmanager
    def _write_transaction(self, durable: bool) -> Iterator[Transaction]:
        if durable:
            self._set_synchronous("FULL")
        try:
            self._begin("BEGIN IMMEDIATE")  # the write lock now, so no reader-turned-writer deadlock later
            transaction = Transaction(self._connection, self._name)
            try:
                yield transaction
                with translated(self._name):
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
            with translated(self._name):
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
        with translated(self._name):
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
