"""Per-user storage: one SQLite file per user, split along its seams.

- `errors`: the storage errors, and where an `sqlite3.Error` becomes one of them.
- `codecs`: the only converters between Python values and columns (times, money, JSON, records).
- `ddl`: the tables each schema version creates; `migrations`: the upgrades between versions.
- `reader`: the queries (`Reader`, `Window`); `transaction`: the writes (`Transaction`).
- `store`: opening a file (`Store`, `open_user_store`), transactions and snapshots.
- `files`: a database file and its journal on disk: safe to open, setting leftovers aside, fsync.

The row types it reads and writes are in `services.records`. Import the names below from here.
"""

from tradebot.services.storage.ddl import SCHEMA_VERSION
from tradebot.services.storage.errors import (
    CorruptDatabaseError,
    DatabaseUnavailableError,
    SchemaVersionError,
    StorageError,
)
from tradebot.services.storage.reader import DEFAULT_LIMIT, EVERYTHING, Reader, Window
from tradebot.services.storage.store import DEFAULT_BUSY_TIMEOUT_MS, Store, open_user_store
from tradebot.services.storage.transaction import Transaction

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DEFAULT_LIMIT",
    "EVERYTHING",
    "SCHEMA_VERSION",
    "CorruptDatabaseError",
    "DatabaseUnavailableError",
    "Reader",
    "SchemaVersionError",
    "StorageError",
    "Store",
    "Transaction",
    "Window",
    "open_user_store",
]
