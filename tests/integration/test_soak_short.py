"""The short soak of issue 7 (`make soak` runs the long one): faults, many users, nothing lost.

150 simulated minute candles, 10 users (5 LIVE, 5 TEST) in one `tradebot engine` against the
simulator with 5xx, timeouts, latency spikes, truncated JSON, 429 bursts and dropped order answers;
then every check of `soak_checks` must find nothing. See soak_harness.py for the scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .soak_checks import CATEGORIES, check, figures
from .soak_harness import SoakSettings, soak

SHORT = SoakSettings(candles=150, users=10, speed=300.0)  # a minute candle every 0.2 s
ALL_KINDS = ("drop", "error", "malformed", "spike", "throttle", "timeout")


@pytest.mark.slow
def test_short_soak_under_faults_loses_nothing(tmp_path: Path) -> None:
    run = soak(SHORT, tmp_path)
    problems, records = check(run)
    numbers = figures(run, records)
    found = {name: problems[name][:10] for name in CATEGORIES if problems[name]}
    assert not found, f"{found}\n{numbers}\n--- engine log (end)\n{run.log[-4000:]}"
    assert numbers["candles_closed"] >= SHORT.candles
    assert numbers["exit_code"] == 0
    assert numbers["loop_crashed_lines"] == 0
    assert numbers["engine_418"] == numbers["rate_limited_418"] == 0
    assert all(numbers["faults_injected"].get(kind, 0) > 0 for kind in ALL_KINDS), numbers["faults_injected"]
    # The order paths ran under the faults, and every user evaluated every candle of the run.
    assert numbers["live_fills"] > 0
    assert numbers["test_fills"] > 0
    filled = [
        order for record in records.values() for order in record.orders.values() if order.state == "done"
    ]
    traded = {order.identifier.split(".")[1] for order in filled}  # tb.{user}.{mode}.{market}...
    assert len(traded) >= len(run.users) // 2, numbers
    for user in run.users:
        evaluated = set(records[user.name].buy_starts) | set(records[user.name].sell_starts)
        assert len(evaluated) >= SHORT.candles, (user.name, len(evaluated))
