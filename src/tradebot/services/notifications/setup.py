"""Changing, showing and testing a user's notification set-up (the CLI and the dashboard share these).

A change is applied to the stored settings in one transaction with the secrets, so a refused value
changes nothing. What is shown is masked: a token's last 4 characters, a webhook URL's host only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.config import (
    CHANNEL_NAMES,
    EVENT_KINDS,
    ChannelName,
    NotifySettings,
    clear_secret,
    mask_token,
    mask_url,
    read_settings,
    stored_secrets,
    write_secrets,
    write_settings,
)
from tradebot.services.notifications.outbox import counts, drop_channel, enqueue
from tradebot.services.secrets import SecretBox, SecretError
from tradebot.services.storage import Reader, Store
from tradebot.services.storage.codecs import KST

ENGINE_SEEN_WITHIN = timedelta(seconds=60)  # a heartbeat older than this: the engine is not running


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyChanges:
    """What to change; None (or an absent event) keeps the stored value. Secrets are hidden from repr."""

    telegram_token: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_url: str | None = None
    webhook_format: str | None = None
    events: dict[str, str] = field(default_factory=dict)
    daily_summary: str | None = None  # "HH:MM", or "off" for none


def save_changes(
    store: Store, box: SecretBox, changes: NotifyChanges, *, now: datetime, updated_by: str
) -> NotifySettings:
    """Apply `changes` to the stored settings and secrets in one transaction; SettingsError if invalid."""
    with store.transaction() as transaction:
        current = read_settings(transaction) or NotifySettings()
        settings = _changed(current, changes)
        write_settings(transaction, settings, now=now, updated_by=updated_by)
        if changes.telegram_token is not None or changes.webhook_url is not None:
            write_secrets(
                transaction,
                box,
                telegram_token=changes.telegram_token,
                webhook_url=changes.webhook_url,
                now=now,
            )
    return settings


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing a channel did: whether a secret was stored, and how many waiting rows were dropped."""

    channel: ChannelName
    secret_deleted: bool
    dropped: int


def remove_channels(store: Store, channels: tuple[ChannelName, ...], *, now: datetime) -> list[Removal]:
    """Delete the stored secret of each channel and end its waiting rows as `dropped`, in one transaction.

    The other channel's secret and rows are left alone; the settings (chat id, format, events) stay,
    so setting a secret again brings the channel back as it was.
    """
    with store.transaction() as transaction:
        return [
            Removal(channel, clear_secret(transaction, channel, now), drop_channel(transaction, channel, now))
            for channel in channels
        ]


def channels_named(which: str) -> tuple[ChannelName, ...]:
    """`telegram`, `webhook` or `all` as channel names; SettingsError otherwise."""
    if which == "all":
        return CHANNEL_NAMES
    for name in CHANNEL_NAMES:
        if which == name:
            return (name,)
    raise SettingsError(f"unknown channel {which!r}: telegram, webhook or all")


def _changed(current: NotifySettings, changes: NotifyChanges) -> NotifySettings:
    document = current.model_dump()
    for name in ("telegram_chat_id", "telegram_api_url", "webhook_format"):
        value = getattr(changes, name)
        if value is not None:
            document[name] = value
    if changes.daily_summary is not None:
        document["daily_summary"] = None if changes.daily_summary == "off" else changes.daily_summary
    document["events"] = {**current.events, **changes.events}
    try:
        return NotifySettings.model_validate(document)
    except ValidationError as error:  # one line per field, without the values (settings only, no secret)
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        raise SettingsError(f"notification settings refused: {problems}") from None


def describe(reader: Reader, box: SecretBox) -> list[str]:
    """The user's set-up as lines of text, every secret masked."""
    settings = read_settings(reader)
    if settings is None:
        return ["notifications: not configured (tradebot notify set --user NAME ...)"]
    token_ciphertext, url_ciphertext = stored_secrets(reader)
    token, url = _shown(box, token_ciphertext, mask_token), _shown(box, url_ciphertext, mask_url)
    events = ", ".join(f"{kind}={settings.level(kind)}" for kind in EVENT_KINDS)
    summary = f"{settings.daily_summary} KST" if settings.daily_summary else "off"
    outbox, chat = counts(reader), settings.telegram_chat_id or "(not set)"
    return [
        f"telegram: chat {chat}, token {token}, api {settings.telegram_api_url}",
        f"webhook: {url} ({settings.webhook_format})",
        f"events: {events}",
        f"daily summary: {summary}",
        f"outbox: {outbox['pending']} pending, {outbox['sent']} sent, {outbox['dead']} dead, "
        f"{outbox['dropped']} dropped",
    ]


def _shown(box: SecretBox, ciphertext: bytes | None, mask: Callable[[str | None], str]) -> str:
    if ciphertext is None:
        return "(not set)"
    try:
        secret = box.decrypt(ciphertext)
    except SecretError:
        return "(stored, but this encryption key cannot open it)"
    return mask(secret)


def queue_test(store: Store, username: str, now: datetime) -> int | None:
    """Queue a `test` message; its row id, or None when no channel is configured or tests are off."""
    text = f"tradebot test message for {username}, queued at {now.astimezone(KST):%Y-%m-%d %H:%M:%S} KST"
    with store.transaction() as transaction:
        return enqueue(transaction, "test", text, now)


def engine_seen(reader: Reader, now: datetime) -> bool:
    """True when the engine wrote this user's heartbeat within ENGINE_SEEN_WITHIN (it will deliver soon)."""
    status = reader.engine_status()
    return status is not None and now - status.heartbeat_at <= ENGINE_SEEN_WITHIN
