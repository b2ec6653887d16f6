"""Telegram and webhook channels against the fake servers: what is sent, outcomes, no secrets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes.fake_telegram import TOKEN, Failure, FakeTelegram, Hold, TooMany
from tests.fakes.fake_webhook import SECRET, FakeWebhook
from tests.fakes.fake_webhook import Hold as WebhookHold
from tradebot.services.notifications.channels import (
    TELEGRAM_TEXT_LIMIT,
    Channel,
    TelegramChannel,
    WebhookChannel,
    WebhookFormat,
    send_test,
)

CHAT = "987654321"
CREATED = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Message:
    id: int = 7
    kind: str = "fill"
    level: str = "on"
    text: str = "BUY KRW-BTC 0.001 @ 102,000,000 KRW (TEST)"
    created_at: datetime = CREATED


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def bot(
    server: FakeTelegram, client: httpx.Client, *, token: str = TOKEN, timeout: float = 5.0
) -> TelegramChannel:
    return TelegramChannel(
        token=token, chat_id=CHAT, client=client, api_url=server.base_url, timeout_seconds=timeout
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_telegram_send_accepted_delivered_to_chat(telegram: FakeTelegram, client: httpx.Client) -> None:
    delivery = bot(telegram, client).send(Message())

    assert delivery.delivered
    sent = telegram.messages[-1]
    assert (sent.chat_id, sent.text, sent.disable_notification) == (CHAT, Message().text, False)


def test_telegram_send_silent_level_disables_notification(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    assert bot(telegram, client).send(Message(level="silent")).delivered

    assert telegram.messages[-1].disable_notification


def test_telegram_send_long_text_cut_to_limit(telegram: FakeTelegram, client: httpx.Client) -> None:
    assert bot(telegram, client).send(Message(text="x" * 5000)).delivered

    assert len(telegram.messages[-1].text) == TELEGRAM_TEXT_LIMIT


def test_telegram_send_429_reports_retry_after(telegram: FakeTelegram, client: httpx.Client) -> None:
    telegram.script(TooMany(retry_after=17))

    delivery = bot(telegram, client).send(Message())

    assert not delivery.delivered
    assert delivery.retry_after_seconds == 17
    assert delivery.error is not None
    assert "429" in delivery.error


def test_telegram_send_server_error_not_delivered(telegram: FakeTelegram, client: httpx.Client) -> None:
    telegram.script(Failure(400, "Bad Request: chat not found"))

    delivery = bot(telegram, client).send(Message())

    assert not delivery.delivered
    assert delivery.retry_after_seconds is None
    assert delivery.error == "telegram 400: Bad Request: chat not found"


def test_telegram_send_wrong_token_error_never_shows_token(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    wrong = "999:wrong-token-that-is-secret"

    delivery = bot(telegram, client, token=wrong).send(Message())

    assert not delivery.delivered
    assert delivery.error is not None
    assert "401" in delivery.error
    assert wrong not in delivery.error


def test_telegram_send_unreachable_error_never_shows_token(client: httpx.Client) -> None:
    channel = TelegramChannel(
        token=TOKEN, chat_id=CHAT, client=client, api_url=f"http://127.0.0.1:{closed_port()}"
    )

    delivery = channel.send(Message())

    assert not delivery.delivered
    assert delivery.error is not None
    assert delivery.error.startswith("telegram ")
    assert TOKEN not in delivery.error


def test_telegram_send_slow_server_stops_at_timeout(client: httpx.Client) -> None:
    with FakeTelegram() as slow:
        slow.script(Hold())

        delivery = bot(slow, client, timeout=0.2).send(Message())

        assert slow.holding.is_set()
        assert not slow.released.is_set()
    assert not delivery.delivered
    assert delivery.error is not None
    assert delivery.error.startswith("telegram timeout")


@pytest.mark.parametrize(
    ("webhook_format", "expected"),
    [
        ("slack", {"text": Message().text}),
        ("discord", {"content": Message().text}),
        (
            "json",
            {
                "id": 7,
                "channel": "webhook",
                "kind": "fill",
                "level": "on",
                "text": Message().text,
                "created_at": CREATED.isoformat(),
            },
        ),
    ],
)
def test_webhook_send_format_body_as_expected(
    webhook: FakeWebhook, client: httpx.Client, webhook_format: WebhookFormat, expected: dict[str, object]
) -> None:
    channel = WebhookChannel(url=webhook.url, webhook_format=webhook_format, client=client)

    assert channel.send(Message()).delivered

    assert webhook.bodies[-1] == expected


def test_webhook_send_429_reports_retry_after_header(webhook: FakeWebhook, client: httpx.Client) -> None:
    webhook.script(429)

    delivery = WebhookChannel(url=webhook.url, webhook_format="json", client=client).send(Message())

    assert not delivery.delivered
    assert delivery.retry_after_seconds == 2


def test_webhook_send_server_error_not_delivered_url_never_shown(
    webhook: FakeWebhook, client: httpx.Client
) -> None:
    webhook.script(500)

    delivery = WebhookChannel(url=webhook.url, webhook_format="slack", client=client).send(Message())

    assert not delivery.delivered
    assert delivery.error is not None
    assert "500" in delivery.error
    assert SECRET not in delivery.error


def test_webhook_send_slow_receiver_stops_at_timeout(client: httpx.Client) -> None:
    with FakeWebhook() as slow:
        slow.script(WebhookHold())
        channel = WebhookChannel(url=slow.url, webhook_format="json", client=client, timeout_seconds=0.2)

        delivery = channel.send(Message())

        assert slow.holding.is_set()
        assert not slow.bodies
    assert delivery.error is not None
    assert delivery.error.startswith("webhook timeout")
    assert SECRET not in delivery.error


def test_webhook_send_invalid_url_not_delivered_url_never_shown(client: httpx.Client) -> None:
    url = f"http://127.0.0.1:99999/hooks/{SECRET}"

    delivery = WebhookChannel(url=url, webhook_format="json", client=client).send(Message())

    assert not delivery.delivered
    assert delivery.error is not None
    assert SECRET not in delivery.error


def test_send_test_every_channel_answers_with_its_outcome(
    telegram: FakeTelegram, webhook: FakeWebhook, client: httpx.Client
) -> None:
    channels: list[Channel] = [
        bot(telegram, client),
        WebhookChannel(url=webhook.url, webhook_format="json", client=client),
    ]
    webhook.script(500)

    outcomes = send_test(channels, "tradebot test message", CREATED)

    assert [(name, delivery.delivered) for name, delivery in outcomes] == [
        ("telegram", True),
        ("webhook", False),
    ]
    assert telegram.messages[-1].text == "tradebot test message"
