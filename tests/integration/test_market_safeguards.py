"""Upbit's market safeguards and key health on the in-process simulator, through the engine's runner.

A flagged market blocks entries in TEST and LIVE (the reason on the buy evaluation, one ALERT per
change) while an open position still sells at its stop; a caution flag the user allows lets the
entry through; a delisting stops entries and flags the position in health and as an ALERT; a key
near its expiry warns at 14, 7 and 1 days; a key used from an IP it does not allow parks the user
with the reason in plain words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from tests.fakes.clocks import StepClock
from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.key_health import KeyHealth
from tradebot.engine.market_list import MarketList
from tradebot.engine.runner_types import Loop
from tradebot.exchange.upbit import UpbitQuotationClient
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.records import CommandRequest, Mode
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.users import params_path

from .conftest import START
from .test_outages import LIVE_ACCESS, LIVE_SECRET, MARKET, Cable, Desk, desk, exchange, prepare_user

__all__ = ["desk", "exchange"]  # the fixtures this module uses
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
TICKS = 400  # minutes tried before a signal is expected to have come


def configure_alerts(desk: Desk, username: str = "alice") -> None:
    with open_user_store(desk.home, username) as store:
        changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="42")
        save_changes(store, SecretBox(Fernet.generate_key()), changes, now=START, updated_by="test")


def alerts(desk: Desk, username: str = "alice") -> list[str]:
    with open_user_store(desk.home, username) as store:
        return [item.text for item in due(store, desk.clock.now(), limit=500) if item.kind == "alert"]


def tick_until(desk: Desk, done: Callable[[], bool], limit: int = TICKS) -> None:
    for _ in range(limit):
        desk.tick(60)
        if done():
            return
    raise AssertionError(f"not reached in {limit} minutes")


def safeguard_reasons(desk: Desk, username: str = "alice") -> list[str]:
    with open_user_store(desk.home, username) as store:
        rows = store.query(
            "SELECT reason FROM buy_eval WHERE reason LIKE '%safeguard:%' ORDER BY candle_start"
        )
    return [str(row["reason"]) for row in rows]


def holding(desk: Desk, mode: Mode, username: str = "alice") -> bool:
    with open_user_store(desk.home, username) as store:
        return bool(store.positions(mode))


def allow_caution(desk: Desk, flag: str, username: str = "alice") -> None:
    path = params_path(desk.home, username)
    params = json.loads(path.read_text())
    params["safeguards"] = {"allowed_caution_flags": [flag]}
    path.write_text(json.dumps(params))


def start(desk: Desk, mode: Mode, username: str = "alice") -> UserRunner:
    """The user's runner as the engine builds it: its loops and itself share one market list."""
    prepare_user(desk.home, username, mode)
    configure_alerts(desk, username)
    session = desk.session(Cable())
    markets = MarketList(UpbitQuotationClient(session), desk.clock)
    clock = desk.clock

    def factory(request: RunRequest, resources: ExitStack) -> Loop:
        return build_loop(request, clock, resources, session=session, markets=markets)

    store = open_user_store(desk.home, username)
    desk.stores.append(store)
    runner = UserRunner(username, store, factory, clock, desk.settings(), desk.lines.append, markets=markets)
    request = CommandRequest(
        kind="start", requested_by="test", requested_at=clock.now(), args={"mode": mode},
        live_confirmed=mode == "LIVE",
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.submit_command(request)
    desk.runners[username] = runner
    return runner


@pytest.mark.parametrize("mode", ["TEST", "LIVE"])
def test_warning_blocks_entries_until_cleared_and_position_still_sells_at_stop(
    desk: Desk, mode: Mode
) -> None:
    exchange, username = desk.exchange, "alice"
    exchange.set_market_event(MARKET, warning=True)
    start(desk, mode)
    tick_until(desk, lambda: len(safeguard_reasons(desk, username)) >= 2)
    assert not holding(desk, mode, username)
    reasons = safeguard_reasons(desk, username)
    assert all(reason.split("; ")[-1].startswith("safeguard:warning") for reason in reasons)
    warned = [text for text in alerts(desk, username) if "entries blocked" in text]
    assert len(warned) == 1  # one ALERT for the flag, not one per blocked candle
    assert "safeguard:warning" in warned[0]
    exchange.set_market_event(MARKET)  # cleared: the next signal enters
    tick_until(desk, lambda: holding(desk, mode, username))
    exchange.set_market_event(MARKET, warning=True, caution=("PRICE_FLUCTUATIONS",))
    with open_user_store(desk.home, username) as store:
        [position] = store.positions(mode)
    assert position.entry_price is not None
    stop = round_to_tick(position.entry_price * Decimal("0.97"), up=False)
    exchange.set_price(MARKET, str(stop))
    desk.tick(5)
    desk.tick(5)
    assert not holding(desk, mode, username)  # the stop sold it: exits are never blocked


def test_caution_flag_allowed_in_settings_lets_the_entry_through(desk: Desk) -> None:
    desk.exchange.set_market_event(MARKET, caution=("TRADING_VOLUME_SOARING",))
    start(desk, "TEST")
    allow_caution(desk, "TRADING_VOLUME_SOARING")  # read by the loop when it starts at the first tick
    tick_until(desk, lambda: holding(desk, "TEST"))
    assert safeguard_reasons(desk) == []


def test_caution_flag_not_allowed_blocks_with_its_flag_as_reason(desk: Desk) -> None:
    desk.exchange.set_market_event(MARKET, caution=("TRADING_VOLUME_SOARING",))
    start(desk, "TEST")
    tick_until(desk, lambda: bool(safeguard_reasons(desk)))
    assert "safeguard:caution:TRADING_VOLUME_SOARING" in safeguard_reasons(desk)[0]
    assert not holding(desk, "TEST")
    assert any(
        MARKET in note and "TRADING_VOLUME_SOARING" in note for note in desk.health("alice")["safeguards"]
    )


def test_delisting_stops_entries_and_flags_the_open_position(desk: Desk) -> None:
    start(desk, "TEST")
    tick_until(desk, lambda: holding(desk, "TEST"))
    desk.exchange.delist(MARKET)
    for _ in range(3):
        desk.tick(400)  # past the market list's 5-minute refresh
    assert holding(desk, "TEST")  # nothing to sell it into: it stays, flagged
    health = desk.health("alice")
    assert "delisted" in (health["alert"] or "")
    flagged = [text for text in alerts(desk) if "delisted" in text]
    assert len(flagged) == 1  # once, not every tick
    assert f"[TEST] {MARKET} position open" in flagged[0]


def test_wrong_ip_key_parks_live_user_with_plain_words_reason(desk: Desk) -> None:
    desk.exchange.limit_key(LIVE_ACCESS, allowed_ips=["10.9.9.9"])
    start(desk, "LIVE")
    for _ in range(4):
        desk.tick(60)
    runner = desk.runners["alice"]
    assert runner.loop is None
    assert runner.failed_reason is not None
    assert "this server's IP is not in the key's allowed list" in runner.failed_reason
    health = desk.health("alice")
    assert health["state"] == "failed"
    assert "this server's IP is not in the key's allowed list" in health["last_error"]
    parked = [text for text in alerts(desk) if "allowed list" in text]
    assert len(parked) == 1


def test_expiring_key_warns_at_14_7_and_1_days_once_each(desk: Desk) -> None:
    expiry = START + timedelta(days=20)
    desk.exchange.limit_key(LIVE_ACCESS, expire_at=expiry.isoformat())
    client = desk.exchange.exchange_client(access_key=LIVE_ACCESS, secret_key=LIVE_SECRET)
    clock = StepClock(START)  # injected: the key is read when due (daily) as days pass
    warnings: list[str] = []
    health = KeyHealth(lambda: (LIVE_ACCESS, client.list_api_keys()), clock, warnings.append)
    while clock.now() < expiry - timedelta(hours=1):
        if health.due():
            health.check()
        clock.advance(timedelta(hours=6))
    assert health.expires_at == expiry
    assert [text.split(" (on ")[0] for text in warnings] == [
        "LIVE API key expires in 14 days",
        "LIVE API key expires in 7 days",
        "LIVE API key expires in 24 hours",
    ]


def test_live_runner_reads_key_expiry_warns_once_and_shows_it_in_health(desk: Desk) -> None:
    expiry = START + timedelta(days=10)
    desk.exchange.limit_key(LIVE_ACCESS, expire_at=expiry.isoformat())
    start(desk, "LIVE")
    for _ in range(3):
        desk.tick(60)
    assert datetime.fromisoformat(desk.health("alice")["key_expires_at"]) == expiry
    [warning] = [text for text in alerts(desk) if "expires in" in text]
    assert "LIVE API key expires in 9 days" in warning or "LIVE API key expires in 10 days" in warning


def test_live_order_refused_for_suspension_blocks_later_entries_and_flags_position(desk: Desk) -> None:
    runner = start(desk, "LIVE")
    desk.exchange.suspend(MARKET)
    tick_until(desk, lambda: any("safeguard:suspended" in reason for reason in safeguard_reasons(desk)))
    with open_user_store(desk.home, "alice") as store:
        refused = store.query("SELECT error_name FROM orders WHERE state = 'rejected'")
    assert [row["error_name"] for row in refused] == ["market_offline"]  # one try, then the gate holds
    assert not holding(desk, "LIVE")
    assert runner.failed_reason is None  # a suspension parks nobody: exits would still be tried
    notes = desk.health("alice")["safeguards"]
    assert any("safeguard:suspended" in note for note in notes)
