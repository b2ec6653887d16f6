"""The notification delivery state read from the outbox, and its line in `tradebot health` (issue 14)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.services.health_monitor import health_problems, read_user_health
from tradebot.services.health_text import format_delivery
from tradebot.services.notifications.delivery_state import (
    DELIVERY_ALERT,
    delivery_document,
    read_delivery_state,
)
from tradebot.services.notifications.outbox import enqueue, mark_dead, mark_retry, mark_sent
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.records import EngineStatus
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
STALE = 15.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    create_user(tmp_path, "alice", None, NOW)
    return tmp_path


def configure(home: Path) -> None:
    changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="123456789")
    with open_user_store(home, "alice") as store:
        save_changes(store, SecretBox.for_home(home), changes, now=NOW, updated_by="test")


def queue(store: Store, at: datetime) -> int:
    with store.transaction() as transaction:
        message_id = enqueue(transaction, "fill", "bought KRW-BTC", at)
    assert message_id is not None
    return message_id


def test_delivery_state_without_channel_or_rows_is_none(home: Path) -> None:
    with open_user_store(home, "alice") as store:
        assert read_delivery_state(store, NOW) is None


def test_delivery_state_counts_rows_and_names_the_last_retry_error(home: Path) -> None:
    configure(home)
    with open_user_store(home, "alice") as store:
        sent, waiting = queue(store, NOW), queue(store, NOW - timedelta(minutes=2))
        with store.transaction() as transaction:
            mark_sent(transaction, sent, NOW)
            mark_retry(transaction, waiting, "telegram: HTTP 502", NOW + timedelta(seconds=30))
        state = read_delivery_state(store, NOW)
    assert state is not None
    assert (state.pending, state.sent, state.dead, state.alert) == (1, 1, 0, None)
    assert (state.last_error, state.last_error_status) == ("telegram: HTTP 502", "pending")
    assert state.oldest_pending_at == NOW - timedelta(minutes=2)


def test_delivery_state_pending_older_than_ten_minutes_is_an_alert(home: Path) -> None:
    configure(home)
    with open_user_store(home, "alice") as store:
        queue(store, NOW - timedelta(minutes=11))
        state = read_delivery_state(store, NOW)
    assert state is not None
    assert state.alert is not None
    assert state.alert.startswith(DELIVERY_ALERT)
    assert "11 min old" in state.alert


def test_delivery_state_dead_row_is_an_alert_until_a_later_row_is_delivered(home: Path) -> None:
    configure(home)
    with open_user_store(home, "alice") as store:
        first = queue(store, NOW)
        with store.transaction() as transaction:
            mark_dead(transaction, first, "telegram: 401 Unauthorized", NOW)
        dead_state = read_delivery_state(store, NOW)
        later = queue(store, NOW)
        with store.transaction() as transaction:
            mark_sent(transaction, later, NOW)
        recovered = read_delivery_state(store, NOW)
    assert dead_state is not None
    assert dead_state.alert is not None
    assert "1 message(s) given up on" in dead_state.alert
    assert (dead_state.last_error, dead_state.last_error_status) == ("telegram: 401 Unauthorized", "dead")
    assert recovered is not None
    assert (recovered.dead, recovered.dead_since_last_sent, recovered.alert) == (1, 0, None)


def test_health_user_with_dead_channel_is_a_problem_with_an_alert_line(home: Path) -> None:
    configure(home)
    with open_user_store(home, "alice") as store:
        first = queue(store, NOW)
        with store.transaction() as transaction:
            mark_dead(transaction, first, "telegram: 403 bot was blocked", NOW)
    user = read_user_health(home, "alice", NOW, STALE)
    assert user.notifications is not None
    line = format_delivery(user.notifications)
    assert line.startswith("  notifications pending=0 sent=0 dead=1 dropped=0 oldest_pending=-")
    assert line.splitlines()[1].startswith("    telegram dead    pending=0 oldest_pending_age=- last_sent=-")
    assert "last_error(dead)='telegram: 403 bot was blocked'" in line
    assert line.splitlines()[0].endswith(f"*** {user.notifications.alert} ***")
    problems = health_problems([user], {"generated_at": NOW.isoformat()}, NOW, STALE)
    assert problems == [f"alice: {user.notifications.alert}"]


def test_health_cli_names_the_notifications_of_a_user_with_a_channel(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home)
    with open_user_store(home, "alice") as store, store.transaction() as transaction:
        transaction.set_engine_status(EngineStatus(state="stopped", mode="TEST", heartbeat_at=NOW))
        enqueue(transaction, "fill", "bought KRW-BTC", NOW)  # NOW is long past the real clock: overdue

    assert main(["health", "--home", str(home)]) == 1
    output = capsys.readouterr().out
    assert (
        "  notifications pending=1 sent=0 dead=0 dropped=0 oldest_pending=2026-03-22T12:00:00+00:00" in output
    )
    assert f"PROBLEM: alice: {DELIVERY_ALERT}: telegram: oldest waiting message is" in output
    assert TOKEN not in output


def write_engine_health(home: Path, generated_at: datetime, notifications: dict[str, object]) -> None:
    user = {"username": "alice", "desired_running": False, "mode": "TEST", "notifications": notifications}
    document = {"generated_at": generated_at.isoformat(), "engine_id": "test:1", "users": [user]}
    (home / "health.json").write_text(json.dumps(document))


def test_health_cli_uses_the_engines_fresh_notifications_block_else_the_database(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home)
    now = datetime.now(UTC)
    with open_user_store(home, "alice") as store:
        queue(store, now)  # the database: one waiting row
        with store.snapshot() as reader:
            state = read_delivery_state(reader, now)
    assert state is not None
    engine_view = replace(state, pending=0, sent=1, channels=())  # the engine delivered it meanwhile
    write_engine_health(home, now, delivery_document(engine_view))

    main(["health", "--home", str(home)])
    fresh = capsys.readouterr().out
    write_engine_health(home, now - timedelta(minutes=5), delivery_document(engine_view))
    main(["health", "--home", str(home)])
    stale = capsys.readouterr().out

    assert "  notifications pending=0 sent=1 dead=0" in fresh
    assert "  notifications pending=1 sent=0 dead=0" in stale
    assert "    telegram ok      pending=1" in stale
