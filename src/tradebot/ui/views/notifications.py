"""Notifications: the user's Telegram and webhook channels, which events are sent, and delivery state.

The same rules as `tradebot notify` (`services.notifications.setup`): one validation, one
transaction. The Telegram token and the webhook URL are secrets: typed in password fields, stored
encrypted, shown masked only (never echoed back, not even after a refused save). An empty secret
field keeps the stored one. The delivery state is read from the user's outbox, so it shows whether
or not the engine runs, per channel. "Remove" (after a confirmation) deletes a channel's stored
secret and drops its waiting messages, as `tradebot notify clear` does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast, get_args

import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.services.notifications.config import (
    CHANNEL_NAMES,
    EVENT_KINDS,
    ChannelName,
    EventLevel,
    NotifySettings,
    mask_token,
    mask_url,
    read_settings,
    stored_secrets,
)
from tradebot.services.notifications.delivery_state import ChannelDelivery, read_delivery_state
from tradebot.services.notifications.setup import (
    NotifyChanges,
    engine_seen,
    queue_test,
    remove_channels,
    save_changes,
)
from tradebot.services.secrets import SecretBox, SecretError
from tradebot.services.storage.codecs import KST
from tradebot.ui.session import home, require_user, user_store

LEVELS: tuple[str, ...] = get_args(EventLevel)
FORMATS = ("json", "slack", "discord")
TOKEN_KEY, WEBHOOK_KEY = "notify_telegram_token", "notify_webhook_url"
NOT_SET = mask_token(None)  # what the masks show for a secret that is not stored
REMOVE_KEY = "notify_remove"  # the channel whose removal waits for a confirmation
SECRET_NAMES = {"telegram": "bot token", "webhook": "webhook URL"}
EVENT_LABELS = {
    "fill": "Entry and exit fills",
    "order_refused": "Refused or failed orders",
    "alert": "Alerts (position without exits, LIVE key rejected, ...)",
    "engine": "Engine start and stop",
    "daily_summary": "Daily summary",
    "test": "Test messages",
    "protection": "Protections (cooldown, loss streak, daily loss) stopping entries",
}


def stored_view(username: str) -> tuple[NotifySettings, str, str]:
    """The saved settings (defaults when none) and the masked token and webhook URL."""
    box = SecretBox.for_home(home())
    with user_store(username) as store:
        settings = read_settings(store) or NotifySettings()
        token, url = stored_secrets(store)
    return settings, _masked(box, token, mask_token), _masked(box, url, mask_url)


def _masked(box: SecretBox, ciphertext: bytes | None, mask: Callable[[str | None], str]) -> str:
    if ciphertext is None:
        return "(not set)"
    try:
        secret = box.decrypt(ciphertext)
    except SecretError:
        return "(stored, but this data directory's encryption key cannot open it)"
    return mask(secret)


def render_form(username: str, settings: NotifySettings, token_shown: str, url_shown: str) -> None:
    """The settings form; Save applies it through `save_changes` and says what happened."""
    with st.form("notify_form", clear_on_submit=True):
        changes = form_fields(settings, token_shown, url_shown)
        submitted = st.form_submit_button("Save")
    if submitted:
        save(username, changes)
        for key in (TOKEN_KEY, WEBHOOK_KEY):  # a typed secret is never sent back to the browser
            st.session_state.pop(key, None)
        st.rerun()  # redraw the form and the masked secrets from what is stored now


def form_fields(settings: NotifySettings, token_shown: str, url_shown: str) -> NotifyChanges:
    """The form's inputs as changes: an empty secret keeps the stored one, an empty time means none."""
    st.markdown("**Telegram**")
    token = st.text_input(
        f"Bot token (stored: {token_shown}; empty keeps it)", type="password", key=TOKEN_KEY
    )
    chat_id = st.text_input("Chat id", value=settings.telegram_chat_id or "")
    api_url = st.text_input("Bot API URL", value=settings.telegram_api_url)
    st.markdown("**Webhook**")
    webhook = st.text_input(
        f"Webhook URL (stored: {url_shown}; empty keeps it)", type="password", key=WEBHOOK_KEY
    )
    webhook_format = st.selectbox("Webhook format", FORMATS, index=FORMATS.index(settings.webhook_format))
    st.markdown("**Events** (on: with sound, silent: without, off: never sent)")
    events = {
        kind: st.selectbox(EVENT_LABELS[kind], LEVELS, index=LEVELS.index(settings.level(kind)))
        for kind in EVENT_KINDS
    }
    summary = st.text_input("Daily summary time (HH:MM KST, empty: none)", value=settings.daily_summary or "")
    return NotifyChanges(
        telegram_token=token.strip() or None,
        webhook_url=webhook.strip() or None,
        telegram_chat_id=chat_id.strip() or None,
        telegram_api_url=api_url.strip() or None,
        webhook_format=str(webhook_format),
        events={kind: str(level) for kind, level in events.items()},
        daily_summary=summary.strip() or "off",
    )


def save(username: str, changes: NotifyChanges) -> None:
    """Apply `changes`; a refusal names the field and never repeats a secret."""
    try:
        with user_store(username) as store:
            save_changes(
                store, SecretBox.for_home(home()), changes, now=datetime.now(UTC), updated_by=username
            )
    except TradebotError as error:
        st.session_state["notify_result"] = ("error", f"Not saved, nothing changed: {error}")
        return
    st.session_state["notify_result"] = ("success", "Notification settings saved (secrets encrypted).")


def render_test_button(username: str) -> None:
    """Queue a test message and say who delivers it (the running engine, or the engine once started)."""
    if not st.button("Send a test message"):
        return
    now = datetime.now(UTC)
    try:
        with user_store(username) as store:
            message_id = queue_test(store, username, now)
            running = engine_seen(store, now)
    except TradebotError as error:
        st.error(f"No test message queued: {error}")
        return
    if message_id is None:
        st.warning("No test message queued: no channel is configured, or test messages are off.")
    elif running:
        st.success(f"Test message {message_id} queued: the running engine delivers it within seconds.")
    else:
        st.info(
            f"Test message {message_id} queued, but the engine is not running: "
            "it is delivered when `tradebot engine` runs."
        )


def render_delivery(username: str) -> None:
    """Pending / sent / dead / dropped counts and each channel's state; a failing channel is a warning."""
    st.subheader("Delivery")
    with user_store(username) as store, store.snapshot() as reader:
        state = read_delivery_state(reader, datetime.now(UTC))
    if state is None:
        st.info("No channel configured: set a Telegram token and chat id, or a webhook URL.")
        return
    pending, sent, dead, dropped = st.columns(4)
    pending.metric("Pending", state.pending)
    sent.metric("Sent", state.sent)
    dead.metric("Dead (given up)", state.dead)
    dropped.metric("Dropped (channel removed)", state.dropped)
    if state.oldest_pending_at is not None:
        st.caption(f"Oldest waiting message: {_stamp(state.oldest_pending_at)}")
    if state.alert:
        st.warning(f"{state.alert}. Check the token, chat id or webhook URL, then send a test message.")
    for channel in state.channels:
        st.caption(_channel_line(channel))
    if state.last_error:
        which = "given up on" if state.last_error_status == "dead" else "waiting for a retry"
        st.caption(f"Last error (message {which}): {state.last_error}")


def _channel_line(channel: ChannelDelivery) -> str:
    line = f"{channel.channel}: {channel.state}, {channel.pending} waiting"
    if channel.last_sent_at is not None:
        line += f", last sent {_stamp(channel.last_sent_at)}"
    return f"{line}; last error: {channel.last_error}" if channel.last_error else line


def render_remove(username: str, token_shown: str, url_shown: str) -> None:
    """A Remove button per stored channel; removing asks for a confirmation first."""
    stored = {"telegram": token_shown != NOT_SET, "webhook": url_shown != NOT_SET}
    pending = st.session_state.get(REMOVE_KEY)
    for channel in CHANNEL_NAMES:
        if stored[channel] and pending != channel and st.button(f"Remove {channel}"):
            st.session_state[REMOVE_KEY] = channel
            st.rerun()
    if pending in CHANNEL_NAMES and stored.get(pending, False):
        _confirm_remove(username, pending)


def _confirm_remove(username: str, channel: ChannelName) -> None:
    st.warning(
        f"Remove {channel}? Its stored {SECRET_NAMES[channel]} is deleted and its waiting messages are "
        "dropped (never sent). The other channel is kept."
    )
    confirm, cancel = st.columns(2)
    if confirm.button(f"Yes, remove {channel}"):
        try:
            with user_store(username) as store:
                [removal] = remove_channels(store, (channel,), now=datetime.now(UTC))
        except TradebotError as error:
            st.session_state["notify_result"] = ("error", f"Not removed: {error}")
        else:
            text = f"{channel} removed; {removal.dropped} waiting message(s) dropped."
            st.session_state["notify_result"] = ("success", text)
        st.session_state.pop(REMOVE_KEY, None)
        st.rerun()
    if cancel.button("Cancel"):
        st.session_state.pop(REMOVE_KEY, None)
        st.rerun()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")


def show_result() -> None:
    """The outcome of the last Save, once (it survives the rerun that redraws the form)."""
    result = st.session_state.pop("notify_result", None)
    if result is not None:
        kind, text = cast(tuple[str, str], result)
        (st.error if kind == "error" else st.success)(text)


def main() -> None:
    """Draw the page for the logged-in user."""
    username = require_user()
    st.title("🔔 Notifications")
    st.caption(
        "Fills, refused orders and alerts sent to Telegram or a webhook. Secrets are stored encrypted."
    )
    result = st.container()
    try:
        settings, token_shown, url_shown = stored_view(username)
        render_form(username, settings, token_shown, url_shown)
        with result:
            show_result()
        render_test_button(username)
        render_remove(username, token_shown, url_shown)
        render_delivery(username)
    except TradebotError as error:
        st.error(f"Your notification settings cannot be read: {error}")


main()
