"""Notification settings, their encrypted secrets, and the outbox (issue 14)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import (
    DEFAULT_EVENTS,
    NotifySettings,
    load_channels,
    mask_token,
    mask_url,
    read_settings,
)
from tradebot.services.notifications.messages import notify_trade, refusal_text, trade_text
from tradebot.services.notifications.outbox import counts, due, enqueue, mark_dead, mark_retry, mark_sent
from tradebot.services.notifications.setup import NotifyChanges, describe, queue_test, save_changes
from tradebot.services.preferences import save_language
from tradebot.services.records import TradeAudit
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import StorageError, Store

NOW = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
BAD_TOKEN = "not-a-token-secret"  # noqa: S105 - a fake value the check must refuse
WEBHOOK = "https://hooks.slack.example/services/T000/B000/SeCrEtPaTh0123456789"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(Fernet.generate_key())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "tradebot_alice.db")


def configure(store: Store, box: SecretBox, **events: str) -> None:
    changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="123456789", events=events)
    save_changes(store, box, changes, now=NOW, updated_by="test")


def pending_texts(store: Store) -> list[str]:
    return [message.text for message in due(store, NOW + timedelta(days=1), limit=100)]


# --- settings ----------------------------------------------------------------------------------


def test_settings_defaults_every_event_kind_with_its_default() -> None:
    settings = NotifySettings()
    assert settings.events == DEFAULT_EVENTS
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.daily_summary is None


def test_settings_saved_without_a_newer_kind_load_with_its_default() -> None:
    document = {"telegram_chat_id": "42", "events": {"fill": "off"}}
    settings = NotifySettings.model_validate_json(json.dumps(document))
    assert settings.level("fill") == "off"
    assert settings.level("alert") == "on"


@pytest.mark.parametrize(
    "document",
    [
        {"telegram_chat_id": "not a chat"},
        {"telegram_api_url": "ftp://api.telegram.org"},
        {"telegram_api_url": "https://user:pass@api.telegram.org"},
        {"daily_summary": "24:00"},
        {"daily_summary": "9:00"},
        {"events": {"fill": "loud"}},
        {"events": {"unknown_kind": "on"}},
        {"webhook_format": "teams"},
        {"surprise": 1},
    ],
)
def test_settings_invalid_value_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotifySettings.model_validate(document)


def test_settings_frozen_refuses_change() -> None:
    with pytest.raises(ValidationError):
        NotifySettings().daily_summary = "09:00"  # type: ignore[misc]


def test_save_changes_invalid_value_refused_and_nothing_changed(store: Store, box: SecretBox) -> None:
    configure(store, box)
    with pytest.raises(SettingsError, match="daily_summary"):
        save_changes(store, box, NotifyChanges(daily_summary="25:61"), now=NOW, updated_by="test")
    with pytest.raises(SettingsError, match="Telegram token") as refused:
        save_changes(store, box, NotifyChanges(telegram_token=BAD_TOKEN), now=NOW, updated_by="t")
    assert BAD_TOKEN not in str(refused.value)
    with pytest.raises(SettingsError, match="https"):
        save_changes(store, box, NotifyChanges(webhook_url="http://example.com/x"), now=NOW, updated_by="t")
    channels = load_channels(store, box)
    assert channels is not None
    assert channels.telegram_token == TOKEN
    assert channels.webhook_url is None


def test_save_changes_keeps_what_is_not_given(store: Store, box: SecretBox) -> None:
    configure(store, box, engine="off")
    save_changes(
        store, box, NotifyChanges(daily_summary="21:30", events={"fill": "silent"}), now=NOW, updated_by="t"
    )
    settings = read_settings(store)
    assert settings is not None
    assert (settings.telegram_chat_id, settings.daily_summary) == ("123456789", "21:30")
    assert (settings.level("engine"), settings.level("fill")) == ("off", "silent")
    save_changes(store, box, NotifyChanges(daily_summary="off"), now=NOW, updated_by="t")
    assert (read_settings(store) or NotifySettings()).daily_summary is None


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_encrypted_never_in_the_database_file_in_clear(tmp_path: Path, box: SecretBox) -> None:
    path = tmp_path / "tradebot_alice.db"
    with Store.open(path) as store:
        changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="1", webhook_url=WEBHOOK)
        save_changes(store, box, changes, now=NOW, updated_by="test")
        channels = load_channels(store, box)
    assert channels is not None
    assert (channels.telegram_token, channels.webhook_url) == (TOKEN, WEBHOOK)
    assert TOKEN not in repr(channels)
    assert WEBHOOK not in repr(channels)
    content = b"".join(item.read_bytes() for item in tmp_path.iterdir() if item.name.startswith(path.name))
    for secret in (TOKEN, "AAFakeTokenForTests0nly", WEBHOOK, "SeCrEtPaTh0123456789"):
        assert secret.encode() not in content


def test_describe_shows_secrets_masked(store: Store, box: SecretBox) -> None:
    changes = NotifyChanges(
        telegram_token=TOKEN, telegram_chat_id="77", webhook_url=WEBHOOK, webhook_format="slack"
    )
    save_changes(store, box, changes, now=NOW, updated_by="test")
    text = "\n".join(describe(store, box))
    assert "****WXYZ" in text
    assert "https://hooks.slack.example/****" in text
    assert "AAFakeToken" not in text
    assert "SeCrEtPaTh" not in text
    assert "chat 77" in text


def test_describe_with_another_encryption_key_shows_no_secret(store: Store, box: SecretBox) -> None:
    configure(store, box)
    text = "\n".join(describe(store, SecretBox(Fernet.generate_key())))
    assert "cannot open it" in text
    assert "WXYZ" not in text


def test_masks_show_no_secret_part() -> None:
    assert mask_token(TOKEN) == "****WXYZ"
    assert mask_token("short") == "****"
    assert mask_token(None) == "(not set)"
    assert mask_url(WEBHOOK) == "https://hooks.slack.example/****"


def test_load_channels_without_a_channel_is_none(store: Store, box: SecretBox) -> None:
    assert load_channels(store, box) is None
    save_changes(store, box, NotifyChanges(telegram_chat_id="5"), now=NOW, updated_by="test")
    assert load_channels(store, box) is None  # a chat without a token cannot deliver
    save_changes(store, box, NotifyChanges(webhook_url=WEBHOOK), now=NOW, updated_by="test")
    channels = load_channels(store, box)
    assert channels is not None
    assert (channels.webhook_url, channels.telegram) == (WEBHOOK, False)


# --- outbox ------------------------------------------------------------------------------------


def test_enqueue_without_channel_writes_nothing(store: Store) -> None:
    with store.transaction() as transaction:
        assert enqueue(transaction, "fill", "bought", NOW) is None
    assert pending_texts(store) == []


def test_enqueue_event_switched_off_writes_nothing(store: Store, box: SecretBox) -> None:
    configure(store, box, fill="off", alert="silent")
    with store.transaction() as transaction:
        assert enqueue(transaction, "fill", "bought", NOW) is None
        alert_id = enqueue(transaction, "alert", "ALERT: unguarded", NOW)
    [message] = due(store, NOW)
    assert (message.id, message.kind, message.level, message.text) == (
        alert_id,
        "alert",
        "silent",
        "ALERT: unguarded",
    )
    assert (message.attempts, message.created_at, message.next_attempt_at) == (0, NOW, NOW)


def test_enqueue_in_rolled_back_transaction_leaves_no_message(store: Store, box: SecretBox) -> None:
    configure(store, box)

    def failing_fill() -> None:
        with store.transaction() as transaction:
            assert enqueue(transaction, "fill", "bought", NOW) is not None
            raise RuntimeError("the fill's transaction fails")

    with pytest.raises(RuntimeError):
        failing_fill()
    assert pending_texts(store) == []


def test_enqueue_with_unreadable_settings_still_writes_the_message(store: Store, box: SecretBox) -> None:
    configure(store, box, fill="off")
    with store.transaction() as transaction:
        transaction.execute("UPDATE notify_settings SET settings = '{\"from_a_newer_version\": 1}'")
    with store.transaction() as transaction:  # the fill's transaction must not fail
        assert enqueue(transaction, "fill", "bought", NOW) is not None
    assert pending_texts(store) == ["bought"]
    with pytest.raises(SettingsError, match="unreadable"):
        load_channels(store, box)


def test_due_oldest_first_and_only_when_due(store: Store, box: SecretBox) -> None:
    configure(store, box)
    with store.transaction() as transaction:
        first = enqueue(transaction, "fill", "one", NOW)
        second = enqueue(transaction, "fill", "two", NOW)
        assert first is not None
        assert second is not None
        mark_retry(transaction, first, "timeout", NOW + timedelta(seconds=30))
    assert [message.id for message in due(store, NOW)] == [second]
    later = due(store, NOW + timedelta(seconds=30))
    assert [message.id for message in later] == [first, second]
    assert later[0].attempts == 1
    assert [message.id for message in due(store, NOW + timedelta(seconds=30), limit=1)] == [first]


def test_marked_sent_or_dead_never_due_again_and_never_marked_twice(store: Store, box: SecretBox) -> None:
    configure(store, box)
    with store.transaction() as transaction:
        sent = enqueue(transaction, "fill", "one", NOW)
        dead = enqueue(transaction, "fill", "two", NOW)
        assert sent is not None
        assert dead is not None
        mark_sent(transaction, sent, NOW)
        mark_dead(transaction, dead, "chat not found", NOW)
    assert due(store, NOW + timedelta(days=1)) == []
    assert counts(store) == {"pending": 0, "sent": 1, "dead": 1, "dropped": 0}
    for mark in (
        lambda tx: mark_sent(tx, sent, NOW),
        lambda tx: mark_retry(tx, dead, "again", NOW),
        lambda tx: mark_dead(tx, 999, "unknown", NOW),
    ):
        with pytest.raises(StorageError, match="not pending"), store.transaction() as transaction:
            mark(transaction)


def test_enqueue_long_text_shortened(store: Store, box: SecretBox) -> None:
    configure(store, box)
    with store.transaction() as transaction:
        enqueue(transaction, "alert", "x" * 10_000, NOW)
    [text] = pending_texts(store)
    assert len(text) == 3500
    assert text.endswith("…")


def test_queue_test_without_channel_none_with_channel_a_test_message(store: Store, box: SecretBox) -> None:
    assert queue_test(store, "alice", NOW) is None
    configure(store, box)
    message_id = queue_test(store, "alice", NOW)
    [message] = due(store, NOW)
    assert (message.id, message.kind) == (message_id, "test")
    assert "alice" in message.text


# --- texts -------------------------------------------------------------------------------------


def audit(side: str, **values: object) -> TradeAudit:
    fields: dict[str, object] = {
        "mode": "TEST", "market": "KRW-BTC", "side": side, "fill_price": Decimal(51_000_000),
        "volume": Decimal("0.002"), "fee": Decimal(51), "params_version": 1, "conditions_version": 2,
        "cause": "strategy", "executed_at": NOW, "rule": "take_profit",
    }  # fmt: skip
    return TradeAudit(**(fields | values))  # type: ignore[arg-type]


def test_trade_text_sell_names_everything_with_profit_and_percent() -> None:
    text = trade_text(audit("ask", realised_profit=Decimal("1898.5")), Decimal(50_000_000))
    assert text == (
        "[TEST] KRW-BTC sell filled: 0.002 at 51,000,000 KRW = 102,000 KRW (fee 51 KRW); rule: take_profit; "
        "realised profit +1,899 KRW (+1.90%)"
    )


def test_trade_text_forced_buy_names_who() -> None:
    text = trade_text(audit("bid", cause="force", rule=None, requested_by="bob", command_id=7), None)
    assert text.startswith("[TEST] KRW-BTC buy filled: 0.002 at 51,000,000 KRW")
    assert "rule: force; forced by bob (command 7)" in text
    assert "profit" not in text


def test_trade_text_dust_says_written_off() -> None:
    text = trade_text(audit("ask", rule="dust", realised_profit=Decimal(-3)), Decimal(52_000_000))
    assert "written off as dust" in text
    assert "realised profit -3 KRW" in text


def test_trade_text_korean_user_reads_korean_words_and_won() -> None:
    text = trade_text(audit("ask", realised_profit=Decimal("1898.5")), Decimal(50_000_000), "ko")
    assert text == (
        "[TEST] KRW-BTC 매도 체결: 0.002 @ 51,000,000원 = 102,000원 (수수료 51원); 규칙: 익절; "
        "실현 손익 +1,899원 (+1.90%)"
    )


def test_refusal_text_korean_says_refused() -> None:
    text = refusal_text("LIVE", "KRW-BTC", "bid", "tb.alice.1.bid.1", "insufficient_funds_bid", "부족", "ko")
    assert text.startswith("[LIVE] KRW-BTC 매수 주문 거부, 체결 없음: insufficient_funds_bid")


def test_enqueue_trade_for_a_korean_user_writes_korean(store: Store, box: SecretBox) -> None:
    save_language(store, "ko", NOW)
    configure(store, box)
    with store.transaction() as transaction:
        notify_trade(transaction, audit("bid"), None)
    [text] = pending_texts(store)
    assert "매수 체결" in text


def test_refusal_text_names_the_error() -> None:
    text = refusal_text("LIVE", "KRW-BTC", "bid", "tb.alice.1.bid.1", "insufficient_funds_bid", "부족")
    assert text == (
        "[LIVE] KRW-BTC buy order REFUSED, nothing traded: insufficient_funds_bid: 부족 "
        "(order tb.alice.1.bid.1)"
    )
