"""Protections in a live loop (TEST mode on the simulator): derived from the trade history, so a
restart mid-pause changes nothing; one notification per trigger; exits never blocked; a force buy
is allowed and audited as overriding the protection."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradebot.core.params import BuyConditions, Conditions, SellConditions
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import LiveLoop
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.protection_status import protections_at
from tradebot.services.records import CommandRequest, TradeAudit
from tradebot.services.secrets import SecretBox
from tradebot.services.settings_store import save_conditions
from tradebot.services.storage import Store, Window, open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "carol"
MARKET = "KRW-BTC"
COOLDOWN = 25
MINUTE = timedelta(minutes=1)
EVERY_ROW = Window(limit=100_000)
# Bullish candles are frequent entry signals, so a cooldown always has some to block.
CONDITIONS = Conditions(
    buy=BuyConditions(golden_cross=False, bullish_candle=True),
    sell=SellConditions(dead_cross=False),
)


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    return simulator_factory(markets=[MARKET], seed=11, rate_limits={"enforce": False})


def prepare_user(home: Path, **protections: object) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, take_profit=0.003, stop_loss=0.003, trailing_stop=0.002)
    params.update(protections)
    path.write_text(json.dumps(params))
    save_conditions(conditions_path(home, USER), CONDITIONS)
    with open_user_store(home, USER) as store:
        changes = NotifyChanges(webhook_url="https://hooks.example/services/secret-path")
        save_changes(
            store, SecretBox(Fernet.generate_key()), changes, now=datetime.now(UTC), updated_by="test"
        )


def start_loop(exchange: Simulator, home: Path, resources: ExitStack) -> LiveLoop:
    request = RunRequest(home, USER, "TEST", exchange.base_url)
    session = exchange.session(clock=NoWaitClock())
    loop = build_loop(request, SimulatedTimeClock(exchange.server), resources, session=session)
    loop.start()
    return loop


def sales(store: Store) -> list[TradeAudit]:
    return [audit for audit in store.trade_audits(100_000) if audit.side == "ask"]


def cycle_until_first_sale(exchange: Simulator, loop: LiveLoop, home: Path) -> TradeAudit:
    for _ in range(400):
        exchange.step(60)
        loop.cycle()
        with open_user_store(home, USER) as store:
            sold = sales(store)
        if sold:
            return sold[0]
    raise AssertionError("no position closed in 400 candles")


def test_cooldown_restart_mid_pause_still_paused_until_the_same_candle(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, cooldown_bars=COOLDOWN)
    loop = start_loop(exchange, tmp_path, resources)
    sale = cycle_until_first_sale(exchange, loop, tmp_path)
    assert sale.candle_start is not None
    for _ in range(5):
        exchange.step(60)
        loop.cycle()
    params = loop.settings.params
    with open_user_store(tmp_path, USER) as store:
        before = protections_at(store, mode="TEST", market=MARKET, params=params, candle_start=None)
    [active] = before.active
    assert active.code == "protection:cooldown"
    assert active.until == sale.candle_start + COOLDOWN * MINUTE
    resources.close()
    with ExitStack() as again:
        second = start_loop(exchange, tmp_path, again)
        with open_user_store(tmp_path, USER) as store:
            after = protections_at(store, mode="TEST", market=MARKET, params=params, candle_start=None)
        assert after == before
        for _ in range(COOLDOWN + 10):
            exchange.step(60)
            second.cycle()
    last_blocked = sale.candle_start + COOLDOWN * MINUTE
    with open_user_store(tmp_path, USER) as store:
        evaluations = store.buy_evaluations(MARKET, params.interval, EVERY_ROW)
        buys = [audit for audit in store.trade_audits(100_000) if audit.side == "bid"]
        queued = due(store, datetime.now(UTC) + timedelta(days=3650), 1000)
    messages = [item for item in queued if item.kind == "protection"]
    blocked = [row.candle_start for row in evaluations if row.reason.startswith("protection:cooldown")]
    first_pause = [start for start in blocked if start <= last_blocked]
    assert first_pause  # bullish candles inside the cooldown were blocked ...
    assert all(start > sale.candle_start for start in first_pause)
    assert any(start > sale.candle_start + 6 * MINUTE for start in first_pause)  # ... after the restart too
    # No entry inside the cooldown; the first one comes after its last candle.
    later = [
        audit.candle_start for audit in buys if audit.candle_start and audit.candle_start > sale.candle_start
    ]
    assert later
    assert min(later) > last_blocked
    # One message per trigger, written with the evaluation of the first candle after the sale.
    flat_after_sale = {row.candle_start - MINUTE for row in evaluations}
    with open_user_store(tmp_path, USER) as store:
        triggers = [audit for audit in sales(store) if audit.candle_start in flat_after_sale]
    assert len(messages) == len(triggers) >= 1
    assert all(item.text.startswith("[TEST] KRW-BTC: protection:cooldown") for item in messages)


def test_force_buy_during_a_pause_is_audited_as_overriding_and_its_exits_are_never_blocked(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, cooldown_bars=60, max_consecutive_losses=1, loss_pause_bars=60)
    loop = start_loop(exchange, tmp_path, resources)
    sale = cycle_until_first_sale(exchange, loop, tmp_path)
    assert sale.candle_start is not None
    exchange.step(60)
    loop.cycle()
    request = CommandRequest(kind="force_buy", requested_by="carol", requested_at=datetime.now(UTC))
    with open_user_store(tmp_path, USER) as store, store.transaction() as transaction:
        command = transaction.submit_command(request)
    loop.force("bid", command, "carol", "buying the dip")
    with open_user_store(tmp_path, USER) as store:
        [forced] = [audit for audit in store.trade_audits(100) if audit.cause == "force"]
    assert forced.note is not None
    assert forced.note.startswith(
        "buying the dip (overrides protection:cooldown: no entry through the candle"
    )
    for _ in range(55):
        exchange.step(60)
        loop.cycle()
    with open_user_store(tmp_path, USER) as store:
        later_sales = [audit for audit in sales(store) if audit.executed_at > forced.executed_at]
    # The forced position was sold by its exits while the cooldown (60 candles) still ran.
    assert later_sales
    assert later_sales[0].candle_start is not None
    assert later_sales[0].candle_start < sale.candle_start + 60 * MINUTE
