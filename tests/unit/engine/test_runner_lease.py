"""The runner's lease on the user's database: once revoked, no write of that runner's stores begins."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.core.models import Candle, Interval
from tradebot.engine.runner_lease import RunnerLease, SupersededError
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import create_user

START = datetime(2026, 3, 1, tzinfo=UTC)


def _candle(minute: int) -> Candle:
    return Candle(START.replace(minute=minute), 1.0, 1.0, 1.0, 1.0, 1.0)


def _save(store: Store, minute: int) -> None:
    with store.transaction() as transaction:
        transaction.save_candles("KRW-BTC", Interval.MINUTE1, [_candle(minute)])


def _minutes(home: Path) -> list[int]:
    with open_user_store(home, "alice") as store:
        return [candle.start.minute for candle in store.candles("KRW-BTC", Interval.MINUTE1)]


def test_revoked_lease_refuses_the_next_write_before_it_begins(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, START)
    lease = RunnerLease()
    with open_user_store(tmp_path, "alice") as store:
        store.gate_writes(lease.writing)
        _save(store, 1)
        lease.revoke()
        with pytest.raises(SupersededError):
            _save(store, 2)
    assert _minutes(tmp_path) == [1]


def test_revoke_waits_for_a_write_in_progress_then_refuses_the_rest(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", None, START)
    lease, inside, finish = RunnerLease(), threading.Event(), threading.Event()
    outcome: list[str] = []

    def old_runner() -> None:
        with open_user_store(tmp_path, "alice") as store:
            store.gate_writes(lease.writing)
            with store.transaction() as transaction:
                inside.set()
                assert finish.wait(5)
                transaction.save_candles("KRW-BTC", Interval.MINUTE1, [_candle(1)])
            try:
                _save(store, 2)
            except SupersededError:
                outcome.append("refused")

    thread = threading.Thread(target=old_runner)
    thread.start()
    assert inside.wait(5)
    revoking = threading.Thread(target=lease.revoke)
    revoking.start()
    while not lease.revoked:  # refused from now on, for every write not yet begun
        threading.Event().wait(0.001)
    revoking.join(0.05)
    assert revoking.is_alive()  # the write in progress holds the lease: the revoke waits for its commit
    finish.set()
    revoking.join(5)
    thread.join(5)
    assert lease.revoked
    assert outcome == ["refused"]
    assert _minutes(tmp_path) == [1]  # the write that began landed whole; none after the revoke
