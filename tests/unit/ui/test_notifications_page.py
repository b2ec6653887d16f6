"""Notifications page: save through the CLI's rules, secrets masked only, test message, delivery state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import opened
from tradebot.services.notifications.config import load_channels, read_settings, stored_secrets
from tradebot.services.notifications.outbox import counts, enqueue, mark_dead
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.records import EngineStatus
from tradebot.services.secrets import SecretBox

PAGE = "views/notifications.py"
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
WEBHOOK = "https://hooks.slack.example/services/T000/B000/SeCrEtPaTh0123456789"
TOKEN_LABEL, CHAT_LABEL, WEBHOOK_LABEL = "Bot token", "Chat id", "Webhook URL"
SUMMARY_LABEL = "Daily summary time"


def run_page() -> AppTest:
    app = page_test(PAGE).run()
    assert not app.exception
    return app


def text_input(app: AppTest, label: str) -> object:
    return next(field for field in app.text_input if field.label.startswith(label))


def fill(app: AppTest, **values: str) -> None:
    labels = {"token": TOKEN_LABEL, "chat": CHAT_LABEL, "webhook": WEBHOOK_LABEL, "summary": SUMMARY_LABEL}
    for name, value in values.items():
        text_input(app, labels[name]).input(value)  # type: ignore[attr-defined]


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    app = app.run()
    assert not app.exception
    return app


def everything_shown(app: AppTest) -> str:
    """Every text, label and input value on the page (what a browser could show)."""
    kinds = ("markdown", "success", "info", "warning", "error", "caption", "metric", "text", "title")
    texts = [str(getattr(element, "value", "")) for kind in kinds for element in getattr(app, kind)]
    for field in [*app.text_input, *app.selectbox]:
        texts.extend([str(field.label), str(field.value)])
    texts.extend(str(metric.label) for metric in app.metric)
    return "\n".join(texts)


def configure(home: Path) -> None:
    changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="123456789", webhook_url=WEBHOOK)
    with opened(home, "alice") as store:
        save_changes(store, SecretBox.for_home(home), changes, now=datetime.now(UTC), updated_by="test")


def test_notifications_save_stores_settings_and_encrypted_token(ui_home: Path) -> None:
    app = run_page()
    fill(app, token=TOKEN, chat="123456789", summary="21:30")
    next(box for box in app.selectbox if box.label == "Engine start and stop").set_value("off")
    app = click(app, "Save")

    assert "Notification settings saved" in app.success[0].value
    assert "stored: ****WXYZ" in text_input(app, TOKEN_LABEL).label  # type: ignore[attr-defined]
    assert TOKEN not in everything_shown(app)
    with opened(ui_home, "alice") as store:
        settings = read_settings(store)
        channels = load_channels(store, SecretBox.for_home(ui_home))
    assert settings is not None
    assert (settings.telegram_chat_id, settings.daily_summary) == ("123456789", "21:30")
    assert (settings.level("engine"), settings.level("fill")) == ("off", "on")
    assert channels is not None
    assert channels.telegram_token == TOKEN


def test_notifications_stored_secrets_shown_masked_never_in_the_page(ui_home: Path) -> None:
    configure(ui_home)
    app = run_page()
    fill(app, chat="987654321")
    app = click(app, "Save")  # a save without secrets keeps them, and the page is redrawn

    shown = everything_shown(app)
    assert "stored: ****WXYZ" in text_input(app, TOKEN_LABEL).label  # type: ignore[attr-defined]
    assert "stored: https://hooks.slack.example/****" in text_input(app, WEBHOOK_LABEL).label  # type: ignore[attr-defined]
    assert TOKEN not in shown
    assert "AAFakeToken" not in shown
    assert "SeCrEtPaTh" not in shown
    with opened(ui_home, "alice") as store:
        channels = load_channels(store, SecretBox.for_home(ui_home))
    assert channels is not None
    assert (channels.telegram_token, channels.webhook_url) == (TOKEN, WEBHOOK)
    assert channels.settings.telegram_chat_id == "987654321"


def test_notifications_invalid_values_refused_with_reason_and_nothing_saved(ui_home: Path) -> None:
    app = run_page()
    fill(app, token="not-a-token-but-a-secret", chat="123456789")  # noqa: S106 - a value the check refuses
    app = click(app, "Save")
    assert "Not saved, nothing changed" in app.error[0].value
    assert "123456789:AA" in app.error[0].value  # the expected form, never the typed value
    assert "not-a-token-but-a-secret" not in everything_shown(app)

    fill(app, chat="123456789", summary="25:00")
    app = click(app, "Save")
    assert "daily_summary" in app.error[0].value
    with opened(ui_home, "alice") as store:
        assert read_settings(store) is None


def test_notifications_test_message_without_channel_is_refused(ui_home: Path) -> None:
    app = click(run_page(), "Send a test message")
    assert "no channel is configured" in app.warning[0].value
    with opened(ui_home, "alice") as store:
        assert counts(store)["pending"] == 0


def test_notifications_test_message_queued_says_whether_the_engine_delivers_it(ui_home: Path) -> None:
    configure(ui_home)
    app = click(run_page(), "Send a test message")
    assert "the engine is not running" in app.info[0].value

    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        transaction.set_engine_status(
            EngineStatus(state="running", mode="TEST", heartbeat_at=datetime.now(UTC))
        )
    app = click(app, "Send a test message")
    assert "the running engine delivers it within seconds" in app.success[0].value
    with opened(ui_home, "alice") as store:
        assert counts(store)["pending"] == 4  # two test messages, one row per channel each


def test_notifications_delivery_block_shows_counts_and_a_dead_channel_as_warning(ui_home: Path) -> None:
    configure(ui_home)
    now = datetime.now(UTC)
    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        dead = enqueue(transaction, "fill", "bought KRW-BTC", now)
        enqueue(transaction, "alert", "ALERT: something", now)
        assert dead is not None
        mark_dead(transaction, dead, "telegram: 401 Unauthorized", now)

    app = run_page()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Pending": "3", "Sent": "0", "Dead (given up)": "1", "Dropped (channel removed)": "0"}
    assert "ALERT: notifications not delivered" in app.warning[0].value
    assert any("telegram: 401 Unauthorized" in caption.value for caption in app.caption)


def test_notifications_delivery_block_without_channel_says_so(ui_home: Path) -> None:
    app = run_page()
    assert any("No channel configured" in info.value for info in app.info)
    assert not app.metric


def test_notifications_remove_asks_first_then_deletes_only_that_secret_and_drops_its_rows(
    ui_home: Path,
) -> None:
    configure(ui_home)
    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        enqueue(transaction, "fill", "bought KRW-BTC", datetime.now(UTC))
    app = click(run_page(), "Remove webhook")
    assert "Remove webhook?" in app.warning[0].value
    with opened(ui_home, "alice") as store:
        assert stored_secrets(store)[1] is not None  # nothing removed before the confirmation

    app = click(app, "Yes, remove webhook")

    assert "webhook removed; 1 waiting message(s) dropped." in app.success[0].value
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Pending"], metrics["Dropped (channel removed)"]) == ("1", "1")
    assert not any(button.label == "Remove webhook" for button in app.button)
    with opened(ui_home, "alice") as store:
        token, url = stored_secrets(store)
        assert (token is not None, url) == (True, None)


def test_notifications_remove_cancelled_keeps_the_channel(ui_home: Path) -> None:
    configure(ui_home)
    app = click(run_page(), "Remove telegram")
    app = click(app, "Cancel")
    assert not app.warning
    with opened(ui_home, "alice") as store:
        assert stored_secrets(store)[0] is not None
