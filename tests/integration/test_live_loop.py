"""The live loop against the simulator over real HTTP, in TEST and in LIVE mode.

The simulator's clock is stopped; each cycle steps it by one candle, so the loop sees exactly one
newly closed candle per cycle and nothing waits in real time.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import LiveLoop
from tradebot.engine.loop_types import ForceRefused
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.records import CommandRequest, Mode
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "alice"
LIVE_ACCESS = "loop-live-access-key"
LIVE_SECRET = "loop0live0secret0key0for0tests0only00000"  # noqa: S105 - fake key of the fake exchange
CYCLES = 150


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": LIVE_ACCESS, "secret_key": LIVE_SECRET, "balances": {"KRW": "1000000"}}]
    # The loop here runs far faster than real time; the client paces itself on real time only.
    return simulator_factory(markets=["KRW-BTC"], accounts=accounts, seed=11, rate_limits={"enforce": False})


def prepare_user(home: Path, mode: Mode) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, take_profit=0.004, stop_loss=0.004, trailing_stop=0.003)
    path.write_text(json.dumps(params))
    if mode == "LIVE":
        save_keys(home, USER, UpbitKeys(LIVE_ACCESS, LIVE_SECRET), datetime.now(UTC))


def start_loop(exchange: Simulator, home: Path, mode: Mode, resources: ExitStack) -> LiveLoop:
    request = RunRequest(home, USER, mode, exchange.base_url, live_confirmed=True)
    session = exchange.session(clock=NoWaitClock())
    loop = build_loop(request, SimulatedTimeClock(exchange.server), resources, session=session)
    loop.start()
    return loop


def run_cycles(exchange: Simulator, loop: LiveLoop, cycles: int = CYCLES) -> list[str]:
    lines: list[str] = []
    for _ in range(cycles):
        exchange.step(60)
        lines.extend(loop.cycle().decisions)
    return lines


def audited_krw(store: Store, mode: Mode) -> Decimal:
    """Starting KRW plus every audited fill's cash flow."""
    account = store.account(mode)
    assert account is not None
    total = account.starting_krw
    for audit in store.trade_audits():
        funds = audit.fill_price * audit.volume
        total += -(funds + audit.fee) if audit.side == "bid" else funds - audit.fee
    return total


@pytest.mark.parametrize("mode", ["TEST", "LIVE"])
def test_loop_trades_and_audits_every_closed_candle_once(
    exchange: Simulator, tmp_path: Path, resources: ExitStack, mode: Mode
) -> None:
    prepare_user(tmp_path, mode)
    loop = start_loop(exchange, tmp_path, mode, resources)
    run_cycles(exchange, loop)
    with open_user_store(tmp_path, USER) as store:
        buys = store.buy_evaluations("KRW-BTC", loop.settings.params.interval)
        sells = [row for row in store.sell_evaluations("KRW-BTC", loop.settings.params.interval)]
        closes = [row.candle_start for row in buys] + [
            row.candle_start for row in sells if row.trigger_kind == "close"
        ]
        assert len(closes) == len(set(closes)) == CYCLES  # one evaluation per closed candle
        audits = store.trade_audits()
        sides = [audit.side for audit in audits]
        assert "bid" in sides
        assert "ask" in sides
        assert {audit.cause for audit in audits} == {"strategy"}
        for audit in audits:
            assert audit.order_identifier is not None
            order = store.order(audit.order_identifier)
            assert order is not None
            assert order.state == "done"
        assert store.unfinished_orders(mode) == []
        account = store.account(mode)
        assert account is not None
        assert account.krw_balance == audited_krw(store, mode)
        if mode == "LIVE":
            balances = exchange.balances(LIVE_ACCESS)
            assert balances["KRW"]["balance"] == account.krw_balance
            held = balances.get("BTC", {"balance": Decimal(0)})["balance"]
            positions = store.positions("LIVE")
            assert held == (positions[0].volume if positions else Decimal(0))


def test_loop_restart_resumes_position_and_never_repeats_a_candle(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "LIVE")
    first = start_loop(exchange, tmp_path, "LIVE", resources)
    run_cycles(exchange, first, 60)
    with open_user_store(tmp_path, USER) as store:
        before = store.trade_audits()
        position_before = store.positions("LIVE")
    resources.close()
    with ExitStack() as again:
        second = start_loop(exchange, tmp_path, "LIVE", again)
        run_cycles(exchange, second, 60)
        with open_user_store(tmp_path, USER) as store:
            after = store.trade_audits()
            assert after[: len(before)] == before
            buys = store.buy_evaluations("KRW-BTC", second.settings.params.interval)
            sells = [row for row in store.sell_evaluations("KRW-BTC", second.settings.params.interval)]
            closes = [row.candle_start for row in buys] + [
                row.candle_start for row in sells if row.trigger_kind == "close"
            ]
            assert len(closes) == len(set(closes)) == 120
            assert not [audit for audit in after if audit.cause == "manual"]
            account = store.account("LIVE")
            assert account is not None
            assert exchange.balances(LIVE_ACCESS)["KRW"]["balance"] == account.krw_balance
    if position_before:
        assert position_before[0].entry_price is not None


def test_stop_loss_between_closes_sells_on_latest_price_and_audits_tick(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    loop = start_loop(exchange, tmp_path, "TEST", resources)
    with open_user_store(tmp_path, USER) as store:
        for _ in range(300):
            exchange.step(60)
            loop.cycle()
            if store.positions("TEST"):
                break
        [position] = store.positions("TEST")
        assert position.entry_price is not None
        crash = round_to_tick(position.entry_price * Decimal("0.97"), up=False)
        exchange.set_price("KRW-BTC", str(crash))
        exchange.step(5)  # well inside the forming candle
        report = loop.cycle()
        assert any("between closes" in line for line in report.decisions)
        assert store.positions("TEST") == []
        last = store.trade_audits()[-1]
        assert (last.side, last.rule, last.cause) == ("ask", "stop_loss", "strategy")
        ticks = [
            row
            for row in store.sell_evaluations("KRW-BTC", loop.settings.params.interval)
            if row.trigger_kind == "tick"
        ]
        assert [row.trigger_rule for row in ticks] == ["stop_loss"]
        assert ticks[0].price == crash


def test_force_buy_and_sell_trade_now_and_audit_who_and_why(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    loop = start_loop(exchange, tmp_path, "TEST", resources)
    with open_user_store(tmp_path, USER) as store:
        while store.positions("TEST"):  # start flat
            exchange.step(60)
            loop.cycle()
        ids = []
        for kind in ("force_buy", "force_sell"):
            request = CommandRequest(kind=kind, requested_by="bob", requested_at=datetime.now(UTC))
            with store.transaction() as transaction:
                ids.append(transaction.submit_command(request))
        bought = loop.force("bid", ids[0], "bob", "testing the button")
        assert "filled" in bought
        with pytest.raises(ForceRefused, match="already holding"):
            loop.force("bid", ids[0], "bob", "twice")
        exchange.step(5)
        sold = loop.force("ask", ids[1], "bob", "closing it")
        assert "filled" in sold
        with pytest.raises(ForceRefused, match="no position"):
            loop.force("ask", ids[1], "bob", "nothing left")
        audits = store.trade_audits()[-2:]
        assert [(item.side, item.cause, item.requested_by, item.command_id) for item in audits] == [
            ("bid", "force", "bob", ids[0]),
            ("ask", "force", "bob", ids[1]),
        ]
        assert [item.note for item in audits] == ["testing the button", "closing it"]
        assert store.positions("TEST") == []


def test_guard_of_a_parked_loop_sells_at_stop_loss_even_with_close_only_exits(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    path = params_path(tmp_path, USER)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"price_exit_check": "close"}))
    loop = start_loop(exchange, tmp_path, "TEST", resources)
    with open_user_store(tmp_path, USER) as store:
        for _ in range(300):
            exchange.step(60)
            loop.cycle()
            if store.positions("TEST"):
                break
        [position] = store.positions("TEST")
        assert position.entry_price is not None
        exchange.step(5)
        assert loop.guard() is None  # price inside the exits: nothing happens
        audits = len(store.trade_audits())
        crash = round_to_tick(position.entry_price * Decimal("0.97"), up=False)
        exchange.set_price("KRW-BTC", str(crash))
        exchange.step(5)
        assert "stop_loss, between closes" in (loop.guard() or "")
        assert store.positions("TEST") == []
        assert len(store.trade_audits()) == audits + 1
        assert store.trade_audits()[-1].rule == "stop_loss"
