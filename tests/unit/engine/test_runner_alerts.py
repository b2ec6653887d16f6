"""The engine's ALERTs become one notification each when they start (issue 14)."""

from __future__ import annotations

from cryptography.fernet import Fernet

from tradebot.exchange.upbit import UpbitAuthError, UpbitConnectionError
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import UpbitKeys, store_keys

from .test_engine_service import START, Harness, _guards, _hold, _park_with_position, harness, home

__all__ = ["harness", "home"]  # the fixtures this module uses
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests


def configure(harness: Harness) -> None:
    with open_user_store(harness.home, "alice") as store:
        changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="42")
        save_changes(store, SecretBox(Fernet.generate_key()), changes, now=START, updated_by="test")


def alerts(harness: Harness) -> list[str]:
    with open_user_store(harness.home, "alice") as store:
        return [item.text for item in due(store, harness.clock.now(), limit=100) if item.kind == "alert"]


def test_user_parked_failed_writes_one_alert(harness: Harness) -> None:
    configure(harness)
    harness.factory.crash_on_cycle = True
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    for delay in (5.0, 30.0, 300.0):
        assert alerts(harness) == []  # a crash that restarts is not an alert
        harness.clock.advance(delay)
        runner.tick()
    for _ in range(3):
        harness.clock.advance(10_000)
        runner.tick()
    assert alerts(harness) == [
        "alice: ALERT: failed after 4 crashes in a row: boom in cycle (no open position)"
    ]


def test_position_nothing_guards_alerts_once_until_guarded_again(harness: Harness) -> None:
    configure(harness)
    _hold(harness, "TEST", "KRW-BTC")
    harness.factory.unreachable = 3
    runner = harness.runner()
    for _ in range(3):
        runner.tick()  # the guard cannot be built three cycles in a row
    [first] = alerts(harness)
    assert first.startswith("alice: ALERT: position open and its price exits are NOT running: TEST KRW-BTC")
    assert "connection refused" in first
    runner.tick()  # built: guarded
    runner.tick()
    assert len(alerts(harness)) == 1
    _guards(harness)[-1].crash_on_guard = True
    runner.tick()  # the guard fails: unguarded again, a new alert
    assert len(alerts(harness)) == 2
    assert "guard failed: boom in guard" in alerts(harness)[1]


def test_parked_user_without_channel_writes_no_message(harness: Harness) -> None:
    runner = _park_with_position(harness)
    _guards(harness)[-1].crash_on_guard = True
    runner.tick()
    assert alerts(harness) == []
    assert runner.failed_reason is not None


def test_exchange_unreachable_alerts_once_past_three_cycles_and_once_on_recovery(harness: Harness) -> None:
    configure(harness)
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    loop = harness.factory.loops[-1]
    loop.cycle_error = UpbitConnectionError("connection refused")
    for _ in range(3):
        runner.tick()
        harness.clock.advance(5.0)
    assert alerts(harness) == []  # a short outage is routine
    for _ in range(5):
        runner.tick()
        harness.clock.advance(5.0)
    [down] = alerts(harness)
    assert down.startswith("alice: ALERT: exchange unreachable for 4 cycles in a row since ")
    assert "connection refused" in down
    loop.cycle_error = None
    runner.tick()
    runner.tick()
    assert alerts(harness)[1:] == [
        "alice: ALERT: exchange answering again after 8 failed cycles: trading resumed"
    ]


def test_live_key_rejected_alerts_once_until_a_cycle_succeeds(harness: Harness) -> None:
    configure(harness)
    runner = harness.runner()
    store_keys(runner.store, SecretBox.for_home(harness.home), "alice", UpbitKeys("a", "s"), START)
    harness.send("start", mode="LIVE", confirm=True)
    runner.tick()
    loop = harness.factory.loops[-1]
    loop.cycle_error = UpbitAuthError("잘못된 엑세스 키입니다.", name="invalid_access_key", status=401)
    for _ in range(10):
        runner.tick()
    [rejected] = alerts(harness)
    assert rejected.startswith("alice: ALERT: LIVE API key rejected by Upbit: ")
    assert "invalid_access_key" in rejected
    assert "exchange unreachable" not in " ".join(alerts(harness))  # a refused key is not an outage
    loop.cycle_error = None
    runner.tick()  # fixed: the next rejection is news again
    loop.cycle_error = UpbitAuthError("invalid access key", name="invalid_access_key", status=401)
    runner.tick()
    assert len(alerts(harness)) == 2


def test_test_mode_auth_error_writes_no_key_alert(harness: Harness) -> None:
    configure(harness)
    runner = harness.runner()
    harness.send("start")
    runner.tick()
    harness.factory.loops[-1].cycle_error = UpbitAuthError("refused", name="jwt_verification", status=401)
    runner.tick()
    assert alerts(harness) == []


def test_live_key_refused_for_ip_parks_user_with_plain_reason_and_one_alert(harness: Harness) -> None:
    configure(harness)
    runner = harness.runner()
    store_keys(runner.store, SecretBox.for_home(harness.home), "alice", UpbitKeys("a", "s"), START)
    harness.send("start", mode="LIVE", confirm=True)
    runner.tick()
    loop = harness.factory.loops[-1]
    loop.cycle_error = UpbitAuthError("허용되지 않은 IP 주소입니다.", name="no_authorization_ip", status=401)
    for _ in range(5):
        runner.tick()
        harness.clock.advance(600)
    assert runner.loop is None  # parked: never retried
    assert runner.failed_reason is not None
    assert "this server's IP is not in the key's allowed list" in runner.failed_reason
    assert len(harness.factory.loops) == 1
    [parked] = alerts(harness)
    assert "this server's IP is not in the key's allowed list" in parked
    harness.send("start", mode="LIVE", confirm=True)  # keys fixed: a start un-parks
    runner.tick()
    assert runner.failed_reason is None
    assert len(harness.factory.loops) == 2
