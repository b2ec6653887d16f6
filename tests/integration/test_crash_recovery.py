"""The LIVE loop killed with SIGKILL at random and at chosen moments, restarted each time.

One campaign (module fixture, ~45 s): the simulator runs in this process with its clock 150 times
faster than real time (a minute candle every 0.4 s), the loop runs as `python -m tradebot run
--mode live --cycle-seconds 0.1` in a child process and trades every few candles. It is killed 24
times: 12 times after a seeded random delay (during start-up, recovery, warm-up or trading),
6 times the moment one of its orders appears on the exchange (placed and filled, but the loop is
still waiting to read the fills: the database says `requested`), and 6 times while its
`POST /v1/orders` is stalled in the server (the order is placed after the kill). After each kill it
is restarted; after the last it runs a few cycles and is stopped with SIGTERM. Then each test
below checks one promise against what the exchange holds.

Two more scenarios aim at what the campaign cannot reach by chance: a restart that finishes
before the order stalled at the kill reaches the exchange, and a kill right after a sell between
candle closes (on a stopped clock, so the candle that sold can close bullish while not stale).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .crash_harness import (
    Campaign,
    Outcome,
    audit_problems,
    balance_problems,
    candles_traded_both_ways,
    doubled_orders,
    kill_plan,
    manual_audits,
    prepare_user,
    restart_before_order_lands,
    running_exchange,
    sell_between_closes_then_close_bullish,
    unrecorded_orders,
)

KILLS = 24
SEED = 20_260_322
STALL_SECONDS = 0.6
LONG_STALL_SECONDS = 5.0  # longer than the loop needs to restart and finish start()
# A stopped clock a day ahead of the real one: the loop's clock never runs past the exchange's.
STOPPED_CLOCK: dict[str, Any] = {"speed": 0.0, "ahead": timedelta(days=1)}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    home = tmp_path_factory.mktemp("crash-home")
    prepare_user(home)
    with running_exchange(seed=11, stall_seconds=STALL_SECONDS) as exchange:
        campaign = Campaign(exchange, home, random.Random(SEED), STALL_SECONDS)
        yield campaign.run(kill_plan(KILLS))


def _report(problems: list[str], outcome: Outcome) -> str:
    return "\n".join([*problems, "", outcome.log_tail()])


def test_campaign_of_24_kills_lands_kills_between_placing_and_recording(outcome: Outcome) -> None:
    assert len(outcome.kills) >= 20
    died_early = [kill.describe() for kill in outcome.kills if not kill.alive_before_kill]
    assert not died_early, _report(
        [f"the loop had exited by itself before {item}" for item in died_early], outcome
    )
    between = [kill for kill in outcome.kills if kill.landed_between_placing_and_recording]
    assert len(between) >= 8, [kill.describe() for kill in outcome.kills]
    assert {kill.kind for kill in between} >= {"placed", "in_flight"}
    filled = [order for order in outcome.exchange_orders if order.executed_volume > 0]
    assert {order.side for order in filled} == {"bid", "ask"}
    assert len(filled) >= 12, f"only {len(filled)} fills: the campaign barely traded"


def test_orders_after_repeated_kills_never_placed_twice(outcome: Outcome) -> None:
    problems = doubled_orders(outcome)
    assert not problems, _report(problems, outcome)


def test_exchange_orders_after_repeated_kills_recorded_with_their_fills(outcome: Outcome) -> None:
    problems = unrecorded_orders(outcome)
    assert not problems, _report(problems, outcome)


def test_fills_after_repeated_kills_audited_exactly_once(outcome: Outcome) -> None:
    problems = audit_problems(outcome)
    assert not problems, _report(problems, outcome)


def test_audit_after_repeated_kills_has_no_manual_rows(outcome: Outcome) -> None:
    problems = manual_audits(outcome)
    assert not problems, _report(problems, outcome)


def test_balances_after_repeated_kills_match_exchange(outcome: Outcome) -> None:
    problems = balance_problems(outcome)
    assert not problems, _report(problems, outcome)


def test_order_in_flight_at_kill_landing_after_restart_recorded_with_its_fill(tmp_path: Path) -> None:
    prepare_user(tmp_path)
    with running_exchange(seed=11, stall_seconds=LONG_STALL_SECONDS, **STOPPED_CLOCK) as exchange:
        result = restart_before_order_lands(exchange, tmp_path)
    problems = unrecorded_orders(result.outcome) + audit_problems(result.outcome)
    problems += balance_problems(result.outcome)
    report = [f"stalled {result.stalled}, {result.state_when_landed} in the database when it landed"]
    assert not problems, _report([*report, *problems], result.outcome)


def test_candle_with_sell_between_closes_without_restart_opens_no_position(tmp_path: Path) -> None:
    prepare_user(tmp_path)
    with running_exchange(seed=11, **STOPPED_CLOCK) as exchange:
        outcome = sell_between_closes_then_close_bullish(exchange, tmp_path, kill=False)
    problems = candles_traded_both_ways(outcome)
    assert not problems, _report(problems, outcome)


def test_candle_with_sell_between_closes_after_restart_opens_no_position(tmp_path: Path) -> None:
    prepare_user(tmp_path)
    with running_exchange(seed=11, **STOPPED_CLOCK) as exchange:
        outcome = sell_between_closes_then_close_bullish(exchange, tmp_path, kill=True)
    problems = candles_traded_both_ways(outcome)
    assert not problems, _report(problems, outcome)
