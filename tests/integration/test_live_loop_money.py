"""Money rules of the live loop against the simulator (issue 12): a small account never opens a
position it could not sell at its stop loss, a position worth under 5,000 KRW is written off as
dust without an order, a force buy's own forming candle is not a bar held, and a new slippage
reaches paper fills when its settings version is recorded."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.loop_types import ForceRefused
from tradebot.services.records import CommandRequest, Mode
from tradebot.services.storage import Store, open_user_store
from tradebot.services.users import params_path

from .conftest import Simulator, SimulatorFactory
from .test_live_loop import LIVE_ACCESS, LIVE_SECRET, USER, prepare_user, start_loop


def small_exchange(factory: SimulatorFactory, krw: str) -> Simulator:
    accounts = [{"access_key": LIVE_ACCESS, "secret_key": LIVE_SECRET, "balances": {"KRW": krw}}]
    return factory(markets=["KRW-BTC"], accounts=accounts, seed=11, rate_limits={"enforce": False})


def set_params(home: Path, **changes: object) -> None:
    path = params_path(home, USER)
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def force_command(store: Store, kind: str) -> int:
    request = CommandRequest(kind=kind, requested_by="bob", requested_at=datetime.now(UTC))  # type: ignore[arg-type]
    with store.transaction() as transaction:
        return transaction.submit_command(request)


def sell_orders(store: Store) -> list[str]:
    return [row["state"] for row in store.query("SELECT state FROM orders WHERE side = 'ask'")]


def test_small_account_entry_refused_below_min_exit_and_nothing_sent(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack
) -> None:
    """10,110 KRW at order_ratio 0.5 buys 5,052 KRW: worth ~4,900 KRW at a 3% stop."""
    exchange = small_exchange(simulator_factory, "10110")
    prepare_user(tmp_path, "LIVE")
    set_params(tmp_path, order_ratio=0.5, stop_loss=0.03)
    loop = start_loop(exchange, tmp_path, "LIVE", resources)
    with open_user_store(tmp_path, USER) as store:
        lines: list[str] = []
        for _ in range(300):
            exchange.step(60)
            lines.extend(loop.cycle().decisions)
            if any("below_min_exit" in line for line in lines):
                break
        signals = [row for row in store.buy_evaluations("KRW-BTC", loop.settings.params.interval)]
        refused = [row for row in signals if row.decision == "buy"]
        assert refused
        assert all("below_min_exit" in row.reason for row in refused)
        with pytest.raises(ForceRefused, match="below_min_exit"):
            loop.force("bid", force_command(store, "force_buy"), "bob", "try anyway")
        assert store.query("SELECT identifier FROM orders") == []
        assert store.trade_audits() == []


@pytest.mark.parametrize("mode", ["LIVE"])
def test_position_under_minimum_written_off_as_dust_no_order_sent(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack, mode: Mode
) -> None:
    # 10,700 KRW at 0.5 buys ~5,347 KRW: sellable at its 3% stop (5,186); a 10% crash leaves ~4,810.
    exchange = small_exchange(simulator_factory, "10700")
    prepare_user(tmp_path, mode)
    set_params(tmp_path, order_ratio=0.5, stop_loss=0.03, take_profit=1.0, trailing_stop=0.5)
    loop = start_loop(exchange, tmp_path, mode, resources)
    with open_user_store(tmp_path, USER) as store:
        assert "filled" in loop.force("bid", force_command(store, "force_buy"), "bob", "small position")
        [position] = store.positions(mode)
        buy = store.trade_audits()[-1]
        assert position.entry_price is not None
        crash = round_to_tick(position.entry_price * Decimal("0.9"), up=False)
        exchange.set_price("KRW-BTC", str(crash))
        exchange.step(5)
        report = loop.cycle()
        [line] = [line for line in report.decisions if "dust" in line]
        assert "sell (stop_loss, between closes" in line
        assert "dust: position worth 4,8" in line
        assert store.positions(mode) == []
        dust = store.trade_audits()[-1]
        fill_price = crash * (1 - Decimal(5) / Decimal(10_000))  # the default 5 bps slippage
        assert (dust.side, dust.rule, dust.cause, dust.fee, dust.order_identifier) == (
            "ask", "dust", "strategy", 0, None,
        )  # fmt: skip
        assert (dust.fill_price, dust.volume) == (fill_price, position.volume)
        entry_funds = position.volume * position.entry_price
        assert dust.realised_profit == position.volume * fill_price - entry_funds - entry_funds * Decimal(
            "0.0005"
        )
        assert buy.volume == position.volume
        [tick] = [
            row
            for row in store.sell_evaluations("KRW-BTC", loop.settings.params.interval)
            if row.trigger_kind == "tick"
        ]
        assert "dust" in tick.reason
        # The coins stay in the wallet, and no sell Upbit must refuse is ever sent.
        assert exchange.balances(LIVE_ACCESS)["BTC"]["balance"] == position.volume
        for _ in range(5):
            exchange.step(60)
            loop.cycle()
        assert sell_orders(store) == []


def test_force_buy_forming_candle_not_counted_as_held_bar(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack
) -> None:
    exchange = small_exchange(simulator_factory, "1000000")
    prepare_user(tmp_path, "LIVE")
    set_params(tmp_path, stop_loss=0.5, take_profit=5.0, trailing_stop=0.5, min_holding_bars=50)
    loop = start_loop(exchange, tmp_path, "LIVE", resources)
    with open_user_store(tmp_path, USER) as store:
        exchange.step(20)  # inside a forming candle
        assert "filled" in loop.force("bid", force_command(store, "force_buy"), "bob", "bars")
        [position] = store.positions("LIVE")
        assert position.bars_held == 0
        held = []
        for _ in range(3):
            exchange.step(60)
            loop.cycle()
            held.append(store.positions("LIVE")[0].bars_held)
        assert held == [0, 1, 2]  # the entry candle's own close is not a bar held


def test_slippage_change_reaches_paper_fills_when_its_settings_version_is_recorded(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack
) -> None:
    exchange = small_exchange(simulator_factory, "1000000")
    prepare_user(tmp_path, "TEST")
    set_params(tmp_path, slippage_bps=5.0, stop_loss=0.5, take_profit=5.0, trailing_stop=0.5)
    loop = start_loop(exchange, tmp_path, "TEST", resources)
    with open_user_store(tmp_path, USER) as store:
        exchange.step(60)
        loop.cycle()
        set_params(tmp_path, slippage_bps=50.0, stop_loss=0.5, take_profit=5.0, trailing_stop=0.5)
        exchange.step(60)
        loop.cycle()  # the closed candle applies the change and records its version
        assert loop.settings.params.slippage_bps == 50.0
        exchange.set_price("KRW-BTC", "80000000")
        exchange.step(5)
        assert "filled at 80,400,000" in loop.force("bid", force_command(store, "force_buy"), "bob", "slip")
        buy = store.trade_audits()[-1]
        assert buy.fill_price == Decimal("80400000")  # 80,000,000 x (1 + 50/10,000), no restart
        version = store.settings_version(buy.params_version)
        assert version is not None
        assert '"slippage_bps":50.0' in version.content.replace(" ", "")
