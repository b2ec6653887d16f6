"""A user's notification channels: settings (`NotifySettings`), the secrets, and where they are stored.

The settings are not secret and live as JSON in `notify_settings`. The Telegram bot token and the
webhook URL (whose path is the secret of a Slack or Discord webhook) are Fernet ciphertext in
`notify_secrets`, encrypted with the same `SecretBox` as the Upbit keys. The clear values live only
in memory: `Channels`' repr hides them, errors never repeat them, and `mask_token` / `mask_url` are
the only way they are shown. Reads take any `Reader`; writes take a `Transaction`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tradebot.core.errors import SettingsError
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Reader, Transaction
from tradebot.services.storage.codecs import encode_time

ChannelName = Literal["telegram", "webhook"]
CHANNEL_NAMES: tuple[ChannelName, ...] = ("telegram", "webhook")
EventKind = Literal["fill", "order_refused", "alert", "engine", "daily_summary", "test", "protection"]
Level = Literal["on", "silent"]  # "silent": delivered without a sound (Telegram disable_notification)
EventLevel = Literal["on", "silent", "off"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
# Fills, refusals and alerts are what a user must see; engine start/stop is routine, so it is silent.
DEFAULT_EVENTS: dict[EventKind, EventLevel] = {
    "fill": "on",
    "order_refused": "on",
    "alert": "on",
    "engine": "silent",
    "daily_summary": "on",
    "test": "on",
    "protection": "on",  # the bot stopped entering by itself (TRADING_RULES.md, Protections)
}
TELEGRAM_API_URL = "https://api.telegram.org"
URL_PATTERN = re.compile(r"^https?://[^\s/@]+(/[^\s@]*)?$")  # no user:password@ part
CHAT_ID_PATTERN = r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$"  # a numeric id or a @channel name
TOKEN_PATTERN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")  # Telegram's "<bot id>:<secret>"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_URL_CHARACTERS = 2000
MIN_SHOWN_LENGTH = 16  # a shorter secret shows none of its characters


class NotifySettings(BaseModel):
    """A user's notification settings (not secret: the token and webhook URL are stored apart, encrypted)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    telegram_chat_id: str | None = Field(
        None,
        pattern=CHAT_ID_PATTERN,
        description="Telegram chat that receives messages (and whose commands are obeyed): a number "
        "such as 123456789 or -1001234567890, or @channelname. Empty: no Telegram.",
    )
    telegram_api_url: str = Field(
        TELEGRAM_API_URL,
        max_length=500,
        description="Telegram Bot API server; the default is Telegram's own (tests use a fake one).",
    )
    webhook_format: Literal["slack", "discord", "json"] = Field(
        "json",
        description="Body of webhook posts: slack ({'text'}), discord ({'content'}) or json (every field).",
    )
    events: dict[EventKind, EventLevel] = Field(
        default_factory=lambda: dict(DEFAULT_EVENTS),
        description="Per kind of event: on (with sound), silent (no sound) or off (never sent). "
        "Kinds: fill, order_refused, alert, engine, daily_summary, test, protection.",
    )
    daily_summary: str | None = Field(
        None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="Time of the daily summary, HH:MM in Korea time (KST). Empty: no daily summary.",
    )

    @field_validator("telegram_api_url", mode="before")
    @classmethod
    def _check_api_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/")
            if not URL_PATTERN.fullmatch(value):
                raise ValueError("telegram_api_url must be an http(s):// URL without a user or password")
        return value

    @field_validator("events", mode="after")
    @classmethod
    def _fill_events(cls, value: dict[EventKind, EventLevel]) -> dict[EventKind, EventLevel]:
        # A kind added by a later version gets its default, so older settings keep loading.
        return {**DEFAULT_EVENTS, **value}

    def level(self, kind: EventKind) -> EventLevel:
        """How messages of `kind` are delivered: on, silent or off."""
        return self.events.get(kind, DEFAULT_EVENTS[kind])


@dataclass(frozen=True, slots=True)
class Channels:
    """Settings plus the decrypted secrets; a secret is None when not configured."""

    settings: NotifySettings
    telegram_token: str | None = field(repr=False)
    webhook_url: str | None = field(repr=False)

    @property
    def telegram(self) -> bool:
        """True when Telegram can be used: a token and a chat id."""
        return self.telegram_token is not None and self.settings.telegram_chat_id is not None


def mask_token(token: str | None) -> str:
    """A token as shown: its last 4 characters only (`****wxyz`), or `(not set)`."""
    if token is None:
        return "(not set)"
    return "****" + token[-4:] if len(token) >= MIN_SHOWN_LENGTH else "****"


def mask_url(url: str | None) -> str:
    """A webhook URL as shown: scheme and host only (the path holds the webhook's secret)."""
    if url is None:
        return "(not set)"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/****"


def check_token(token: str) -> str:
    """`token` stripped, or SettingsError (which never repeats it) if it is not a bot token."""
    token = token.strip()
    if not TOKEN_PATTERN.fullmatch(token):
        raise SettingsError("the Telegram token must look like 123456789:AA... (as @BotFather gives it)")
    return token


def check_webhook_url(url: str) -> str:
    """`url` stripped, or SettingsError: https (http only to this machine), no user or password."""
    url = url.strip()
    parts = urlsplit(url)
    plain = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    allowed = parts.scheme == "https" or plain
    if len(url) > MAX_URL_CHARACTERS or not URL_PATTERN.fullmatch(url) or not allowed:
        raise SettingsError("the webhook URL must be an https:// URL without a user or password")
    return url


# --- storage ------------------------------------------------------------------------------------


def read_settings(reader: Reader) -> NotifySettings | None:
    """The user's saved notification settings, None if never saved; SettingsError if unreadable."""
    rows = reader.query("SELECT settings FROM notify_settings WHERE singleton = 1")
    if not rows:
        return None
    try:
        return NotifySettings.model_validate_json(rows[0]["settings"])
    except ValidationError as error:
        raise SettingsError(
            f"stored notification settings are unreadable ({error.error_count()} problem(s)); "
            "save them again with tradebot notify set"
        ) from None


def write_settings(
    transaction: Transaction, settings: NotifySettings, *, now: datetime, updated_by: str
) -> None:
    """Insert or replace the user's notification settings."""
    sql = (
        "INSERT INTO notify_settings (singleton, settings, updated_at, updated_by) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (singleton) DO UPDATE SET settings = excluded.settings, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by"
    )
    transaction.execute(sql, (settings.model_dump_json(), encode_time(now), updated_by))


def stored_secrets(reader: Reader) -> tuple[bytes | None, bytes | None]:
    """(Telegram token, webhook URL) ciphertexts, each None when not stored."""
    rows = reader.query("SELECT telegram_token_ciphertext, webhook_url_ciphertext FROM notify_secrets")
    if not rows:
        return None, None
    token, url = rows[0]
    return (None if token is None else bytes(token)), (None if url is None else bytes(url))


def write_secrets(
    transaction: Transaction,
    box: SecretBox,
    *,
    telegram_token: str | None,
    webhook_url: str | None,
    now: datetime,
) -> None:
    """Encrypt and store the given secrets; a None argument keeps what is stored."""
    token_ciphertext, url_ciphertext = stored_secrets(transaction)
    if telegram_token is not None:
        token_ciphertext = box.encrypt(check_token(telegram_token))
    if webhook_url is not None:
        url_ciphertext = box.encrypt(check_webhook_url(webhook_url))
    sql = (
        "INSERT INTO notify_secrets (singleton, telegram_token_ciphertext, webhook_url_ciphertext, "
        "updated_at) VALUES (1, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET "
        "telegram_token_ciphertext = excluded.telegram_token_ciphertext, "
        "webhook_url_ciphertext = excluded.webhook_url_ciphertext, updated_at = excluded.updated_at"
    )
    transaction.execute(sql, (token_ciphertext, url_ciphertext, encode_time(now)))


def has_channel(reader: Reader, settings: NotifySettings) -> bool:
    """True when a message could be delivered: Telegram (token and chat id) or a webhook URL."""
    return bool(configured_channels(reader, settings))


def configured_channels(reader: Reader, settings: NotifySettings | None) -> list[ChannelName]:
    """The channels a message goes to: Telegram (token and chat id) and/or a webhook (URL).

    With `settings` None (unreadable), a stored secret alone counts: a fill must never lose its
    message because the settings document cannot be read.
    """
    token, url = stored_secrets(reader)
    telegram = token is not None and (settings is None or settings.telegram_chat_id is not None)
    found: list[ChannelName] = []
    if telegram:
        found.append("telegram")
    if url is not None:
        found.append("webhook")
    return found


def as_channel_name(text: str | None) -> ChannelName | None:
    """`text` as a channel name (None stays None); ValueError for anything else."""
    if text is None:
        return None
    for name in CHANNEL_NAMES:
        if text == name:
            return name
    raise ValueError(f"unknown notification channel {text!r}")


def clear_secret(transaction: Transaction, channel: ChannelName, now: datetime) -> bool:
    """Delete the stored secret of `channel` (the other channel's stays); False when none was stored."""
    column = "telegram_token_ciphertext" if channel == "telegram" else "webhook_url_ciphertext"
    # `column` is one of the two fixed names above, never input.
    sql = f"UPDATE notify_secrets SET {column} = NULL, updated_at = ? WHERE {column} IS NOT NULL"  # noqa: S608
    return transaction.execute(sql, (encode_time(now),)).rowcount == 1


def load_channels(reader: Reader, box: SecretBox) -> Channels | None:
    """Settings and decrypted secrets, or None when no channel is configured.

    A secret that this box cannot decrypt raises `SecretError` (the message names no secret).
    """
    settings = read_settings(reader)
    if settings is None or not has_channel(reader, settings):
        return None
    token, url = stored_secrets(reader)
    return Channels(
        settings=settings,
        telegram_token=None if token is None else box.decrypt(token),
        webhook_url=None if url is None else box.decrypt(url),
    )
