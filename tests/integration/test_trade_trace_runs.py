"""`tradebot why` on real TEST and LIVE runs against the simulator: every trade traces to its reason.

The loop runs in this process on the simulator's stopped clock (as in test_live_loop.py); the trace
is read through the command line from the database the run wrote.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tradebot.cli import main
from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.live_loop import LiveLoop
from tradebot.services.records import CommandRequest, Mode, TradeAudit
from tradebot.services.storage import Store, open_user_store
from tradebot.services.storage.codecs import KST

from .conftest import Simulator
from .test_live_loop import USER, exchange, prepare_user, start_loop

__all__ = ["exchange"]  # the simulator fixture of test_live_loop.py, used here as is
SIDES = {"bid": "buy", "ask": "sell"}


def why(home: Path, capsys: pytest.CaptureFixture[str], *target: str) -> dict[str, Any]:
    """The `tradebot why --json` document of an order or trade of the run."""
    assert main(["why", "--user", USER, "--home", str(home), "--json", *target]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def until_round_trip(exchange: Simulator, loop: LiveLoop, store: Store, mode: Mode) -> list[TradeAudit]:
    """Candles until the strategy bought and sold (flat again); its trades."""
    for _ in range(400):
        exchange.step(60)
        loop.cycle()
        audits = [audit for audit in store.trade_audits() if audit.cause == "strategy"]
        if {audit.side for audit in audits} == {"bid", "ask"} and not store.positions(mode):
            return audits
    raise AssertionError("the loop never bought and sold")


def assert_strategy_trace(document: dict[str, Any], audit: TradeAudit) -> None:
    assert audit.candle_start is not None
    assert document["side"] == SIDES[audit.side]
    assert document["cause"]["kind"] == "strategy"
    assert document["cause"]["rule"] == audit.rule
    assert document["order"]["identifier"] == audit.order_identifier
    assert document["order"]["state"] == "done"
    assert document["fill"]["fill_price"] == format(audit.fill_price, "f")
    start = audit.candle_start
    assert document["candle"]["start_kst"] == start.astimezone(KST).isoformat()
    evaluation = document["evaluation"]
    assert evaluation["table"] == ("buy_eval" if audit.side == "bid" else "sell_eval")
    assert evaluation["decision"] == SIDES[audit.side]
    assert evaluation["conditions"]  # every condition with enabled / passed / value
    for result in evaluation["conditions"].values():
        assert set(result) == {"enabled", "passed", "value"}
    settings = document["settings"]
    assert settings["params_version"] == audit.params_version
    assert settings["params"]["warmup_bars"] == 40
    assert "buy" in settings["conditions"]


@pytest.mark.parametrize("mode", ["TEST", "LIVE"])
def test_why_traces_strategy_and_force_trades_of_a_run(
    mode: Mode, exchange: Simulator, tmp_path: Path, resources: ExitStack, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_user(tmp_path, mode)
    loop = start_loop(exchange, tmp_path, mode, resources)
    with open_user_store(tmp_path, USER) as store:
        audits = until_round_trip(exchange, loop, store, mode)
        for audit in audits:
            assert audit.order_identifier is not None
            assert_strategy_trace(why(tmp_path, capsys, "--order", audit.order_identifier), audit)
        ids = []
        for kind in ("force_buy", "force_sell"):
            request = CommandRequest(kind=kind, requested_by="bob", requested_at=datetime.now(UTC))
            with store.transaction() as transaction:
                ids.append(transaction.submit_command(request))
        loop.force("bid", ids[0], "bob", "testing the button")
        exchange.step(5)
        loop.force("ask", ids[1], "bob", "closing it")
        forced = store.trade_audits()[-2:]
    for audit, command_id, reason in zip(forced, ids, ("testing the button", "closing it"), strict=True):
        document = why(tmp_path, capsys, "--trade", str(int(_trade_id(tmp_path, audit))))
        cause = document["cause"]
        assert (cause["kind"], cause["requested_by"], cause["note"]) == ("force", "bob", reason)
        assert cause["command"]["id"] == command_id
        assert document["evaluation"] == {
            "missing": "a force command placed it: no strategy evaluation decided it"
        }
        assert document["mode"] == mode


def _trade_id(home: Path, audit: TradeAudit) -> int:
    with open_user_store(home, USER) as store:
        [row] = store.query(
            "SELECT id FROM trade_audit WHERE order_identifier = ?", (audit.order_identifier,)
        )
    return int(row["id"])


def test_why_traces_a_sell_recovered_after_a_restart_with_its_intent(
    exchange: Simulator, tmp_path: Path, resources: ExitStack, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare_user(tmp_path, "LIVE")
    loop = start_loop(exchange, tmp_path, "LIVE", resources)
    with open_user_store(tmp_path, USER) as store:
        for _ in range(300):
            exchange.step(60)
            loop.cycle()
            if store.positions("LIVE"):
                break
        [position] = store.positions("LIVE")
        assert position.entry_price is not None
        exchange.set_price("KRW-BTC", str(round_to_tick(position.entry_price * Decimal("0.97"), up=False)))
        exchange.step(5)
        exchange.schedule_fault("drop", "POST", "/v1/orders")  # the sell lands, its answer is lost
        exchange.schedule_fault("error", "GET", "/v1/order", count=1000)
        loop.cycle()
        [unsettled] = store.unfinished_orders("LIVE")
        unfinished = why(tmp_path, capsys, "--order", unsettled.identifier)
        assert (unfinished["fill"], unfinished["cause"]["rule"]) == (None, "stop_loss")
        resources.close()  # the process dies
        exchange._admin("DELETE", "/_admin/faults")
        with ExitStack() as again:
            start_loop(exchange, tmp_path, "LIVE", again)  # start() finishes the order first
    document = why(tmp_path, capsys, "--order", unsettled.identifier)
    assert (document["cause"]["kind"], document["cause"]["rule"]) == ("strategy", "stop_loss")
    assert "finished after a restart" in document["cause"]["note"]
    assert document["fill"] is not None
    evaluation = document["evaluation"]
    assert (evaluation["table"], evaluation["trigger_kind"], evaluation["trigger_rule"]) == (
        "sell_eval", "tick", "stop_loss",
    )  # fmt: skip
    assert evaluation["conditions"]["stop_loss"]["passed"] is True
