"""One `GET /v1/accounts` per LIVE user and cycle (issue 15, part 4), counted by the simulator.

A LIVE user trading KRW-ETH with two guarded LIVE positions (KRW-BTC, KRW-XRP) used to read its
account three times a cycle, once per market. The loop and its guards now reconcile against one
read, and a guard still sells at its stop exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tradebot.services.health_monitor import GUARD

from .conftest import Simulator, SimulatorFactory
from .test_position_guards import ACCESS, SECRET, Engine, engine_for

__all__ = ["engine_for"]  # the fixture, used here with this module's three-market exchange
ACCOUNTS = "GET /v1/accounts"


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": ACCESS, "secret_key": SECRET, "balances": {"KRW": "3000000"}}]
    return simulator_factory(
        markets=["KRW-BTC", "KRW-ETH", "KRW-XRP"], accounts=accounts, seed=5, rate_limits={"enforce": False}
    )


def _requests(exchange: Simulator) -> dict[str, int]:
    counts: dict[str, Any] = exchange._admin("GET", "/_admin/requests")["counts"]
    return {key: int(value) for key, value in counts.items()}


def _two_guarded_positions(engine: Engine) -> None:
    """LIVE positions in KRW-BTC and KRW-XRP, then the loop moved to KRW-ETH: both guarded."""
    engine.send("start", mode="LIVE")
    for market, following in (("KRW-BTC", "KRW-XRP"), ("KRW-XRP", "KRW-ETH")):
        engine.send("force_buy", reason=f"a position in {market}")
        assert engine.position("LIVE", market) is not None, engine.lines
        engine.set_market(following)
        engine.send("restart", mode="LIVE")
    assert engine.runner.loop is not None
    assert engine.runner.loop.market == "KRW-ETH"
    engine.tick(5)
    guarding = engine.runner.guards.guarding()
    assert (guarding[("LIVE", "KRW-BTC")].by, guarding[("LIVE", "KRW-XRP")].by) == (GUARD, GUARD)


def test_live_loop_and_two_guards_read_the_account_once_per_cycle(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    _two_guarded_positions(engine)
    engine.exchange._admin("DELETE", "/_admin/requests")

    for _cycle in range(3):
        engine.tick(5)

    assert _requests(engine.exchange).get(ACCOUNTS) == 3, engine.lines  # was 9: one per market
    assert engine.position("LIVE", "KRW-BTC") is not None  # the guards kept their positions


def test_guard_sale_makes_the_next_reader_of_the_cycle_ask_again(engine_for: Callable[..., Engine]) -> None:
    engine = engine_for()
    _two_guarded_positions(engine)
    position = engine.position("LIVE", "KRW-BTC")
    assert position is not None
    engine.crash_price("KRW-BTC", position)
    engine.exchange._admin("DELETE", "/_admin/requests")

    engine.tick(5)

    assert engine.position("LIVE", "KRW-BTC") is None, engine.lines  # sold at its stop, as before
    assert engine.store.trade_audits()[-1].rule == "stop_loss"
    account = engine.store.account("LIVE")
    assert account is not None
    krw = engine.exchange.balances(ACCESS)["KRW"]["balance"]
    assert account.krw_balance == krw  # the KRW recorded after the sale is the exchange's, not the cycle's
    assert _requests(engine.exchange).get(ACCOUNTS, 0) >= 2  # the sale's balances were read afresh
