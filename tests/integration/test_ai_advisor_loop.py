"""The optional AI entry advisor inside the live loop, against the simulator and a fake OpenAI server.

A failing model (HTTP 500 on every request) must leave trading exactly as it is without the
advisor: same trades at the same candles and prices, each failure recorded in `ai_calls`. A model
that says no-go vetoes the entries: evaluations record the veto and no order is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tradebot.core.clock import SystemClock
from tradebot.core.models import Interval
from tradebot.core.strategy import Action
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.ai_review.setup import AiRuntime
from tradebot.services.ai_review.store import recent_calls
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.users import params_path

from ..fakes.ai_support import USER, enable
from ..fakes.fake_openai import Answer, Failure, FakeOpenAI
from .conftest import NoWaitClock, SimulatorFactory
from .test_live_loop import prepare_user

CYCLES = 120
NO_GO = json.dumps({"go": False, "reason": "the move is already over"})


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().start() as server:
        yield server


def _trades(simulators: SimulatorFactory, home: Path, fake: FakeOpenAI | None) -> list[tuple[object, ...]]:
    """Run the TEST loop for CYCLES candles on a fresh simulator; its trades (side, candle, price)."""
    prepare_user(home, "TEST")
    path = params_path(home, USER)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"take_profit": 0.01, "stop_loss": 0.01}))
    if fake is not None:
        ai = AiRuntime(box=SecretBox.for_home(home), clock=SystemClock())  # the box the engine uses
        with open_user_store(home, USER) as store:
            enable(store, ai, fake.base_url, advisor_enabled=True, advisor_timeout_seconds=1.0)
    exchange = simulators(markets=["KRW-BTC"], seed=11, rate_limits={"enforce": False})
    with ExitStack() as resources:
        request = RunRequest(home, USER, "TEST", exchange.base_url)
        session = exchange.session(clock=NoWaitClock())
        loop = build_loop(request, SimulatedTimeClock(exchange.server), resources, session=session)
        loop.start()
        for _ in range(CYCLES):
            exchange.step(60)
            loop.cycle()
    with open_user_store(home, USER) as store:
        return [(audit.side, audit.candle_start, audit.fill_price) for audit in store.trade_audits()]


def test_advisor_failing_model_trades_exactly_as_without_advisor(
    simulator_factory: SimulatorFactory, tmp_path: Path, fake: FakeOpenAI
) -> None:
    baseline = _trades(simulator_factory, tmp_path / "plain", None)
    fake.default = Failure(500)
    with_failing_ai = _trades(simulator_factory, tmp_path / "ai", fake)
    assert baseline
    assert with_failing_ai == baseline
    with open_user_store(tmp_path / "ai", USER) as store:
        calls = recent_calls(store, limit=1000, purpose="advisor")
    entries = sum(1 for side, _, _ in baseline if side == "bid")
    assert len(calls) == entries
    assert {call.status for call in calls} == {"error"}


def test_advisor_no_go_vetoes_every_entry_and_records_why(
    simulator_factory: SimulatorFactory, tmp_path: Path, fake: FakeOpenAI
) -> None:
    fake.default = Answer(NO_GO)
    assert _trades(simulator_factory, tmp_path, fake) == []
    with open_user_store(tmp_path, USER) as store:
        rows = store.buy_evaluations("KRW-BTC", Interval.MINUTE1)
    vetoed = [row for row in rows if row.decision is Action.BUY]
    assert vetoed
    assert all(row.reason.endswith("; advisor: no-go (the move is already over)") for row in vetoed)
