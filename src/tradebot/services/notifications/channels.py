"""Delivery of one notification to one channel over plain httpx: Telegram's Bot API or a webhook.

`send` never raises for a network or HTTP problem: every outcome is a `Delivery` (delivered, or
the error and, when the channel asked for it, how long to wait). Error texts are built here from
the status and the channel's own description, and every secret the channel holds (the bot token,
the webhook URL) is masked out of them, so they are safe to log, store and show.

Pacing (about one message a second per Telegram chat) and retries are the deliverer's job
(`engine.notifier`); a channel only states its `min_interval_seconds`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

WebhookFormat = Literal["slack", "discord", "json"]
TELEGRAM_API_URL = "https://api.telegram.org"
TELEGRAM_TEXT_LIMIT = 4096  # Bot API limit for sendMessage text; longer texts are refused (400)
TELEGRAM_INTERVAL_SECONDS = 1.0  # Telegram: "avoid sending more than one message per second" per chat
WEBHOOK_INTERVAL_SECONDS = 1.0  # Slack allows about one a second per webhook; Discord is looser
DEFAULT_TIMEOUT_SECONDS = 5.0
ERROR_LIMIT = 200
MASK = "***"
# Everything a request can raise for the network or the address; InvalidURL is not an HTTPError.
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL)


class DeliverableMessage(Protocol):
    """What a channel reads of an outbox message (the outbox's `OutboxMessage` satisfies it)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one send ended. `retry_after_seconds` is set when the channel said how long to wait."""

    delivered: bool
    error: str | None = None
    retry_after_seconds: float | None = None


DELIVERED = Delivery(delivered=True)


class Channel(Protocol):
    """One destination for a user's notifications."""

    @property
    def name(self) -> str:
        """A short stable name ("telegram", "webhook") for health readings and logs."""
        ...

    @property
    def min_interval_seconds(self) -> float:
        """The least time between two sends to this channel."""
        ...

    def send(self, message: DeliverableMessage) -> Delivery:
        """Deliver one message; never raises for network or HTTP problems."""
        ...


class TelegramChannel:
    """`POST {api_url}/bot{token}/sendMessage` to one chat; silent messages do not ring."""

    name = "telegram"
    min_interval_seconds = TELEGRAM_INTERVAL_SECONDS

    def __init__(
        self,
        *,
        token: str,
        chat_id: str,
        client: httpx.Client,
        api_url: str = TELEGRAM_API_URL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not token or not chat_id:
            raise ValueError("a Telegram channel needs a bot token and a chat id")
        self._url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self._token, self._chat_id = token, chat_id
        self._client, self._timeout = client, timeout_seconds

    def send(self, message: DeliverableMessage) -> Delivery:
        """Send the message's text (cut to Telegram's limit)."""
        body = {
            "chat_id": self._chat_id,
            "text": message.text[:TELEGRAM_TEXT_LIMIT],
            "disable_notification": message.level == "silent",
        }
        try:
            response = self._client.post(self._url, json=body, timeout=self._timeout)
        except TRANSPORT_ERRORS as error:
            return Delivery(False, describe_error("telegram", error, (self._token, self._url)))
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> Delivery:
        document = _json_object(response)
        if response.status_code == 200 and document.get("ok") is True:
            return DELIVERED
        description = str(document.get("description", response.reason_phrase))
        error = mask(f"telegram {response.status_code}: {description}", (self._token, self._url))
        if response.status_code == 429:
            parameters = document.get("parameters")
            advised = parameters.get("retry_after") if isinstance(parameters, dict) else None
            return Delivery(False, error, _seconds(advised) or _retry_after_header(response))
        return Delivery(False, error)


class WebhookChannel:
    """`POST` a JSON body to a webhook URL: Slack `{"text"}`, Discord `{"content"}` or our JSON."""

    name = "webhook"
    min_interval_seconds = WEBHOOK_INTERVAL_SECONDS

    def __init__(
        self,
        *,
        url: str,
        webhook_format: WebhookFormat,
        client: httpx.Client,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not url:
            raise ValueError("a webhook channel needs a URL")
        self._url, self._format = url, webhook_format
        self._client, self._timeout = client, timeout_seconds

    def send(self, message: DeliverableMessage) -> Delivery:
        """Deliver; any 2xx answer means delivered (redirects are not followed)."""
        try:
            body = webhook_body(message, self._format)
            response = self._client.post(self._url, json=body, timeout=self._timeout)
        except TRANSPORT_ERRORS as error:
            return Delivery(False, describe_error("webhook", error, (self._url,)))
        if 200 <= response.status_code < 300:
            return DELIVERED
        problem = f"webhook {response.status_code}: {response.reason_phrase}"
        if response.status_code == 429:
            advised = _json_object(response).get("retry_after")  # Discord puts it in the body
            return Delivery(False, problem, _retry_after_header(response) or _seconds(advised))
        return Delivery(False, problem)


@dataclass(frozen=True, slots=True)
class DirectMessage:
    """A message sent directly, outside the outbox (`tradebot notify test`)."""

    text: str
    created_at: datetime
    id: int = 0
    kind: str = "test"
    level: str = "on"


def send_test(channels: Sequence[Channel], text: str, at: datetime) -> list[tuple[str, Delivery]]:
    """Send `text` once to every channel now, outside the outbox; each channel's outcome."""
    message = DirectMessage(text=text, created_at=at)
    return [(channel.name, channel.send(message)) for channel in channels]


def webhook_body(message: DeliverableMessage, webhook_format: WebhookFormat) -> dict[str, Any]:
    """The JSON document a webhook of that format expects."""
    if webhook_format == "slack":
        return {"text": message.text}
    if webhook_format == "discord":
        return {"content": message.text[:2000]}  # Discord refuses content over 2000 characters
    return {
        "id": message.id,  # the outbox row of this channel: a receiver deduplicates on it
        "channel": WebhookChannel.name,
        "kind": message.kind,
        "level": message.level,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
    }


def describe_error(channel: str, error: Exception, secrets: tuple[str, ...]) -> str:
    """A one-line, secret-free description of a transport failure."""
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else type(error).__name__
    detail = str(error) or "no detail"
    return mask(f"{channel} {kind}: {detail}", secrets)[:ERROR_LIMIT]


def mask(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in sorted(secrets, key=len, reverse=True):  # the URL before the token inside it
        if secret:
            text = text.replace(secret, MASK)
    return text[:ERROR_LIMIT]


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        document = json.loads(response.content)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _retry_after_header(response: httpx.Response) -> float | None:
    return _seconds(response.headers.get("retry-after"))


def _seconds(value: object) -> float | None:
    """A positive number of seconds from an int, float or numeric string; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 < seconds < 86_400 else None
