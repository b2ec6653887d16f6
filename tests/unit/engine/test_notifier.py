"""The notifier against the fake Telegram server and an in-memory outbox, on a clock moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fakes.clocks import StepClock
from tests.fakes.fake_telegram import TOKEN, Failure, FakeTelegram, TooMany
from tests.fakes.fake_webhook import FakeWebhook
from tests.fakes.memory_outbox import CrashError, MemoryOutbox
from tradebot.engine.notifier import Notifier, RetryPolicy
from tradebot.services.notifications.channels import Channel, TelegramChannel, WebhookChannel

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, first_delay=timedelta(seconds=2), max_delay=timedelta(seconds=10))


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


def telegram_channel(server: FakeTelegram, client: httpx.Client) -> TelegramChannel:
    return TelegramChannel(
        token=TOKEN, chat_id="42", client=client, api_url=server.base_url, timeout_seconds=2
    )


def run_for(notifier: Notifier, clock: StepClock, seconds: int) -> None:
    """One round a second for `seconds` seconds of the injected clock."""
    for _ in range(seconds):
        notifier.deliver_due()
        clock.advance(1)


def fill_rows(outbox: MemoryOutbox, count: int) -> list[int]:
    return [outbox.add(f"fill {number}", START) for number in range(1, count + 1)]


def test_deliver_due_messages_delivered_in_order_and_marked_sent(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    ids = fill_rows(outbox, 3)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)

    run_for(notifier, clock, 5)

    assert telegram.texts() == ["fill 1", "fill 2", "fill 3"]
    assert [outbox.status(row_id) for row_id in ids] == ["sent", "sent", "sent"]


def test_deliver_due_same_second_sends_one_message_per_chat(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    fill_rows(outbox, 3)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)

    notifier.deliver_due()
    notifier.deliver_due()
    clock.advance(0.5)
    notifier.deliver_due()

    assert telegram.texts() == ["fill 1"]


def test_deliver_due_silent_row_sent_without_sound(telegram: FakeTelegram, client: httpx.Client) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    outbox.add("daily summary", START, kind="daily_summary", level="silent")

    Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST).deliver_due()

    assert telegram.messages[0].disable_notification


def test_deliver_due_429_waits_retry_after_without_costing_attempt(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    [row_id] = fill_rows(outbox, 1)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    telegram.script(TooMany(retry_after=7))

    run_for(notifier, clock, 7)  # rounds at 0..6 s: the 429 at 0 s, then silence

    assert telegram.requests == 1
    assert outbox.rows[row_id].attempts == 0
    notifier.deliver_due()  # 7 s
    assert telegram.texts() == ["fill 1"]
    assert outbox.status(row_id) == "sent"


def test_deliver_due_30_second_outage_loses_nothing(telegram: FakeTelegram, client: httpx.Client) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    ids = fill_rows(outbox, 2)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock)  # default policy
    telegram.outage = True
    run_for(notifier, clock, 15)
    ids.append(outbox.add("fill 3", clock.now()))  # an event during the outage
    run_for(notifier, clock, 15)
    telegram.outage = False

    run_for(notifier, clock, 120)

    assert telegram.refused  # the outage was real
    assert telegram.texts() == ["fill 1", "fill 2", "fill 3"]
    assert [outbox.status(row_id) for row_id in ids] == ["sent", "sent", "sent"]


def test_deliver_due_failed_message_not_overtaken(telegram: FakeTelegram, client: httpx.Client) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    first, second = fill_rows(outbox, 2)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    telegram.script(Failure(502))

    run_for(notifier, clock, 2)  # the retry of the first row is due at 2 s

    assert telegram.texts() == []
    assert outbox.rows[first].attempts == 1
    run_for(notifier, clock, 3)
    assert telegram.texts() == ["fill 1", "fill 2"]
    assert outbox.status(second) == "sent"


def test_deliver_due_after_max_attempts_marks_dead_and_moves_on(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    first, second = fill_rows(outbox, 2)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    telegram.script(*[Failure(400, "Bad Request: message text is empty")] * FAST.max_attempts)

    run_for(notifier, clock, 30)

    assert outbox.status(first) == "dead"
    assert outbox.rows[first].error == "telegram 400: Bad Request: message text is empty"
    assert outbox.status(second) == "sent"
    assert telegram.texts() == ["fill 2"]
    assert notifier.health().dead == 1


def test_deliver_due_crash_before_mark_resends_only_that_message(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    fill_rows(outbox, 2)
    outbox.crash_on_next_mark_sent = True
    with pytest.raises(CrashError):
        Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST).deliver_due()

    restarted = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    run_for(restarted, clock, 3)

    assert telegram.texts() == ["fill 1", "fill 1", "fill 2"]


def test_deliver_due_one_channel_failing_other_gets_message_once(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    telegram_row, webhook_row = outbox.add_event("fill 1", START, ("telegram", "webhook"))
    with FakeWebhook() as webhook:
        hook = WebhookChannel(url=webhook.url, webhook_format="slack", client=client)
        channels: list[Channel] = [telegram_channel(telegram, client), hook]
        notifier = Notifier(outbox, channels, clock, FAST)
        webhook.script(503)

        run_for(notifier, clock, 4)

        assert webhook.bodies == [{"text": "fill 1"}]
    assert telegram.texts() == ["fill 1"]
    assert (outbox.status(telegram_row), outbox.status(webhook_row)) == ("sent", "sent")


def test_deliver_due_half_delivered_row_after_restart_not_resent_to_the_channel_that_took_it(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    telegram_row, webhook_row = outbox.add_event("fill 1", START, ("telegram", "webhook"))
    with FakeWebhook() as webhook:
        webhook.script(503)
        channels: list[Channel] = [
            telegram_channel(telegram, client),
            WebhookChannel(url=webhook.url, webhook_format="json", client=client),
        ]
        Notifier(outbox, channels, clock, FAST).deliver_due()  # Telegram ok, webhook failed
        assert (outbox.status(telegram_row), outbox.status(webhook_row)) == ("sent", "pending")

        restarted = Notifier(outbox, channels, clock, FAST)  # a new process: nothing kept in memory
        run_for(restarted, clock, 5)

        assert [body["id"] for body in webhook.bodies] == [webhook_row]
        assert webhook.bodies[0]["channel"] == "webhook"
    assert telegram.texts() == ["fill 1"]
    assert outbox.status(webhook_row) == "sent"


def test_deliver_due_failing_channel_never_holds_back_the_other(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    for number in range(1, 31):  # more rows than one batch, all stuck behind the webhook's first
        outbox.add_event(f"fill {number}", START, ("webhook", "telegram"))
    with FakeWebhook() as webhook:
        webhook.script(*[503] * 100)
        channels: list[Channel] = [
            WebhookChannel(url=webhook.url, webhook_format="slack", client=client),
            telegram_channel(telegram, client),
        ]
        notifier = Notifier(outbox, channels, clock, FAST)

        run_for(notifier, clock, 35)

    assert telegram.texts() == [f"fill {number}" for number in range(1, 31)]


def test_health_channel_down_failing_with_backlog_and_no_token(
    telegram: FakeTelegram, client: httpx.Client
) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    fill_rows(outbox, 3)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    telegram.outage = True

    run_for(notifier, clock, 3)

    health = notifier.health()
    [channel] = health.channels
    assert channel.failing
    assert channel.last_success_at is None
    assert health.backlog == 3
    [problem] = health.problems()
    assert "telegram 502" in problem
    assert TOKEN not in problem


def test_health_channel_recovered_not_failing(telegram: FakeTelegram, client: httpx.Client) -> None:
    clock, outbox = StepClock(START), MemoryOutbox()
    fill_rows(outbox, 1)
    notifier = Notifier(outbox, [telegram_channel(telegram, client)], clock, FAST)
    telegram.script(Failure(502))

    run_for(notifier, clock, 4)

    health = notifier.health()
    assert not health.channels[0].failing
    assert health.backlog == 0
    assert health.problems() == []


def test_notifier_without_channels_refused() -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        Notifier(MemoryOutbox(), [], StepClock(START))
