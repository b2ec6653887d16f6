"""The engine's side threads never open a user's database the runner lost (issue 19 #1 with issue 14).

A notifier or chat poller that reopened the file after a loss would open a copy put back by hand
beside the lost file's -wal/-shm, and SQLite would apply that old WAL to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.engine.user_notifications import DatabaseNotOpenedError, GatedStore, UserDeliverer
from tradebot.services.storage import StorageError

from .test_engine_service import Harness, harness, home

__all__ = ["harness", "home"]  # the fixtures this module uses


def test_gated_store_gate_closed_closes_the_connection_and_refuses_to_reopen(harness: Harness) -> None:
    lost = False
    database = GatedStore(harness.home, "alice", lambda: not lost)
    database.get().query("SELECT 1")  # opened while the runner holds the file

    lost = True
    with pytest.raises(DatabaseNotOpenedError):
        database.get()
    with pytest.raises(DatabaseNotOpenedError):
        database.get()  # still refused: the gate, not an error count, decides


def test_gated_store_missing_file_is_never_created(tmp_path: Path) -> None:
    database = GatedStore(tmp_path, "nobody")
    with pytest.raises(StorageError, match="no such database file"):
        database.get()
    assert not any(tmp_path.iterdir())  # nothing was created in the data directory


def test_user_deliverer_after_the_loss_delivers_nothing_and_never_raises(harness: Harness) -> None:
    deliverer = UserDeliverer(harness.home, "alice", harness.clock, may_open=lambda: False)
    try:
        assert deliverer.deliver_due() == deliverer.idle_seconds
        assert deliverer.health().problems() == []
    finally:
        deliverer.close()
