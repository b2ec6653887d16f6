"""Delivery state per channel (issue 14): one outbox row per channel, the version 6 upgrade, removing
a channel (`tradebot notify clear`), and the per-channel delivery state."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.services.test_storage_migrations import build_version_5
from tradebot.cli import main
from tradebot.services.notifications.config import stored_secrets
from tradebot.services.notifications.delivery_state import (
    delivery_document,
    delivery_from_document,
    read_delivery_state,
)
from tradebot.services.notifications.outbox import counts, due, enqueue, mark_dead, mark_retry, mark_sent
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.storage.codecs import encode_time
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
WEBHOOK = "https://hooks.example/services/T000/SeCrEtPaTh0123456789"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path))
    monkeypatch.delenv("TRADEBOT_SECRET_KEY", raising=False)
    create_user(tmp_path, "alice", None, NOW)
    return tmp_path


def configure_both(home: Path) -> None:
    changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="42", webhook_url=WEBHOOK)
    with open_user_store(home, "alice") as store:
        save_changes(store, SecretBox.for_home(home), changes, now=NOW, updated_by="test")


def queue(store: Store, text: str, at: datetime = NOW) -> int:
    with store.transaction() as transaction:
        first = enqueue(transaction, "fill", text, at)
    assert first is not None
    return first


def test_enqueue_with_two_channels_writes_one_row_per_channel(home: Path) -> None:
    configure_both(home)
    with open_user_store(home, "alice") as store:
        first = queue(store, "bought KRW-BTC")
        rows = due(store, NOW)
        telegram, webhook = due(store, NOW, channel="telegram"), due(store, NOW, channel="webhook")
    assert [(row.channel, row.text) for row in rows] == [
        ("telegram", "bought KRW-BTC"),
        ("webhook", "bought KRW-BTC"),
    ]
    assert rows[0].id == first
    assert [row.id for row in telegram] == [first]
    assert [row.id for row in webhook] == [first + 1]


def test_mark_sent_one_channel_leaves_the_other_channel_pending(home: Path) -> None:
    configure_both(home)
    with open_user_store(home, "alice") as store:
        first = queue(store, "bought KRW-BTC")
        with store.transaction() as transaction:
            mark_sent(transaction, first, NOW)
        assert due(store, NOW, channel="telegram") == []
        assert [row.channel for row in due(store, NOW)] == ["webhook"]


def write_version_5_rows(path: Path, *, with_channels: bool) -> None:
    moment = encode_time(NOW)
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        if with_channels:
            connection.execute(
                "INSERT INTO notify_settings VALUES (1, ?, ?, 'test')", ('{"telegram_chat_id": "42"}', moment)
            )
            connection.execute("INSERT INTO notify_secrets VALUES (1, x'01', x'02', ?)", (moment,))
        sql = (
            "INSERT INTO notify_outbox (id, kind, level, text, status, attempts, next_attempt_at, "
            "created_at) VALUES (?, 'fill', 'on', ?, ?, 0, ?, ?)"
        )
        for row_id, status in ((1, "sent"), (2, "pending"), (3, "dead"), (4, "pending")):
            connection.execute(sql, (row_id, f"message {row_id}", status, moment, moment))


def outbox_rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute(
            "SELECT id, channel, status, text FROM notify_outbox ORDER BY id"
        ).fetchall()


def test_version_5_outbox_upgraded_pending_rows_one_per_configured_channel(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_5(path)
    write_version_5_rows(path, with_channels=True)

    Store.open(path).close()

    assert outbox_rows(path) == [
        (1, None, "sent", "message 1"),
        (2, "telegram", "pending", "message 2"),
        (3, None, "dead", "message 3"),
        (4, "telegram", "pending", "message 4"),
        (5, "webhook", "pending", "message 2"),
        (6, "webhook", "pending", "message 4"),
    ]


def test_version_5_outbox_without_channel_pending_rows_dropped(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    build_version_5(path)
    write_version_5_rows(path, with_channels=False)

    Store.open(path).close()

    assert [row[2] for row in outbox_rows(path)] == ["sent", "dropped", "dead", "dropped"]


def test_notify_clear_telegram_keeps_webhook_and_drops_only_telegram_rows(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_both(home)
    with open_user_store(home, "alice") as store:
        queue(store, "bought KRW-BTC")
    with open_user_store(home, "alice") as store:
        _, webhook_before = stored_secrets(store)

    assert main(["notify", "clear", "--user", "alice", "telegram"]) == 0

    output = capsys.readouterr().out
    assert "alice: telegram removed (secret deleted; 1 waiting message(s) dropped)" in output
    assert "token (not set)" in output
    assert "alice: outbox: 1 pending, 0 sent, 0 dead, 1 dropped" in output
    with open_user_store(home, "alice") as store:
        token, webhook = stored_secrets(store)
        assert (token, webhook) == (None, webhook_before)
        assert [row.channel for row in due(store, NOW)] == ["webhook"]
        state = read_delivery_state(store, NOW)
    assert state is not None
    assert (state.pending, state.dropped) == (1, 1)
    assert [channel.channel for channel in state.channels] == ["webhook"]


def test_notify_clear_all_removes_both_and_later_events_write_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_both(home)
    assert main(["notify", "clear", "--user", "alice", "all"]) == 0
    assert "webhook removed (secret deleted" in capsys.readouterr().out
    with open_user_store(home, "alice") as store:
        assert stored_secrets(store) == (None, None)
        with store.transaction() as transaction:
            assert enqueue(transaction, "fill", "bought", NOW) is None
        assert counts(store)["pending"] == 0


def test_notify_clear_unknown_channel_refused(home: Path) -> None:
    with pytest.raises(SystemExit):
        main(["notify", "clear", "--user", "alice", "email"])


def test_delivery_state_per_channel_ok_failing_dead(home: Path) -> None:
    configure_both(home)
    with open_user_store(home, "alice") as store:
        first = queue(store, "one", NOW - timedelta(minutes=1))
        second = queue(store, "two")
        with store.transaction() as transaction:
            mark_sent(transaction, first, NOW)  # telegram took "one"
            mark_dead(transaction, first + 1, "webhook 404: Not Found", NOW)  # webhook gave up "one"
            mark_retry(transaction, second, "telegram 502: Bad Gateway", NOW + timedelta(seconds=5))
        state = read_delivery_state(store, NOW)
    assert state is not None
    telegram, webhook = state.channels
    assert (telegram.channel, telegram.state, telegram.pending) == ("telegram", "failing", 1)
    assert telegram.last_error == "telegram 502: Bad Gateway"
    assert telegram.last_sent_at == NOW
    assert (webhook.channel, webhook.state, webhook.pending, webhook.dead_since_last_sent) == (
        "webhook", "dead", 1, 1,
    )  # fmt: skip
    assert webhook.oldest_pending_age_seconds == 0.0
    assert state.alert is not None
    assert "webhook: 1 message(s) given up on" in state.alert


def test_delivery_document_round_trips(home: Path) -> None:
    configure_both(home)
    with open_user_store(home, "alice") as store:
        queue(store, "one", NOW - timedelta(minutes=12))
        state = read_delivery_state(store, NOW)
    assert state is not None
    assert delivery_from_document(delivery_document(state)) == state
    assert delivery_from_document({"pending": "x"}) is None


def test_notify_help_names_clear(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["notify", "--help"])
    assert "notify clear --user NAME telegram|webhook|all" in " ".join(capsys.readouterr().out.split())
