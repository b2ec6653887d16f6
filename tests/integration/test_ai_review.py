"""The AI review after a real LIVE session: the loop trades on the simulator with Upbit keys stored,
then explanations, a review and the entry advisor run against the fake OpenAI server (both real
HTTP on loopback). No secret may reach a prompt, an answer, a log line or the database in clear.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.fake_openai import Answer, Delay, FakeOpenAI
from tradebot.core.advisor import AdvisorContext
from tradebot.core.clock import Clock
from tradebot.core.indicators import IndicatorRow
from tradebot.core.models import Interval
from tradebot.core.params import Conditions
from tradebot.core.strategy import Action, Decision
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.ai_review.advisor import EntryAdvisor
from tradebot.services.ai_review.client import CallStatus
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.features import (
    EvaluationKey,
    daily_review,
    evaluation_for_trade,
    explain_evaluation,
)
from tradebot.services.ai_review.prompts import parse_params
from tradebot.services.ai_review.setup import AiRuntime, save_api_key, save_settings
from tradebot.services.ai_review.store import recent_calls
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "alice"
UPBIT_ACCESS = "ai0review0upbit0access0key0000000000000"
UPBIT_SECRET = "ai0review0upbit0secret0key0for0tests00000"  # noqa: S105 - fake key of the fake exchange
OPENAI_KEY = "sk-ai0review0openai0key0for0tests0only0000"
SECRETS = (UPBIT_ACCESS, UPBIT_SECRET, OPENAI_KEY)
CYCLES = 120
MARKET = "KRW-BTC"
MINUTE1 = Interval.MINUTE1


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.reset()
    return openai_server


@pytest.fixture
def exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": UPBIT_ACCESS, "secret_key": UPBIT_SECRET, "balances": {"KRW": "1000000"}}]
    return simulator_factory(markets=["KRW-BTC"], accounts=accounts, seed=11, rate_limits={"enforce": False})


def live_session(exchange: Simulator, home: Path, resources: ExitStack) -> Clock:
    """alice trades LIVE for CYCLES one-minute candles with her Upbit keys stored encrypted."""
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, take_profit=0.004, stop_loss=0.004, trailing_stop=0.003)
    path.write_text(json.dumps(params))
    save_keys(home, USER, UpbitKeys(UPBIT_ACCESS, UPBIT_SECRET), datetime.now(UTC))
    clock = SimulatedTimeClock(exchange.server)
    request = RunRequest(home, USER, "LIVE", exchange.base_url, live_confirmed=True)
    loop = build_loop(request, clock, resources, session=exchange.session(clock=NoWaitClock()))
    loop.start()
    for _ in range(CYCLES):
        exchange.step(60)
        loop.cycle()
    return clock


def switch_on(store: Store, home: Path, base_url: str) -> AiSettings:
    settings = AiSettings(enabled=True, base_url=base_url, advisor_enabled=True, timeout_seconds=2.0)
    save_settings(store, USER, settings, now=datetime.now(UTC), saved_by=USER)
    save_api_key(store, SecretBox.for_home(home, {}), USER, OPENAI_KEY, now=datetime.now(UTC))
    return settings


def advisor_context(store: Store) -> AdvisorContext:
    """An entry on the latest evaluated candle, as the live loop would describe it."""
    latest = store.buy_evaluations(MARKET, MINUTE1)[-1]
    (candle,) = [item for item in store.candles(MARKET, MINUTE1) if item.start == latest.candle_start]
    params = parse_params(store.latest_settings("params"))
    assert params is not None
    row = IndicatorRow(
        close=candle.close,
        open=candle.open,
        macd=latest.macd or 0.0,
        signal=latest.signal or 0.0,
        hist=latest.hist or 0.0,
        ma20=candle.close,
        ma60=candle.close,
    )
    return AdvisorContext(
        candle=candle,
        indicators=row,
        decision=Decision(Action.BUY, "every enabled buy condition held", conditions=latest.conditions),
        params=params,
        conditions=Conditions(),
        budget_krw=Decimal(99_950),
    )


def stored_text(store: Store) -> str:
    """Every value of every AI table, as text."""
    parts = []
    for table in ("ai_calls", "ai_explanations", "ai_settings"):
        for row in store.query(f"SELECT * FROM {table}"):  # noqa: S608 - fixed table names
            parts.extend(str(value) for value in tuple(row))
    return "\n".join(parts)


def test_ai_review_after_live_session_never_sends_or_stores_secrets(
    exchange: Simulator,
    fake: FakeOpenAI,
    tmp_path: Path,
    resources: ExitStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the session's, openai's and the HTTP libraries' debug lines too
    clock = live_session(exchange, tmp_path, resources)
    ai = AiRuntime(box=SecretBox.for_home(tmp_path, {}), clock=clock, environment={})
    with open_user_store(tmp_path, USER) as store:
        switch_on(store, tmp_path, fake.base_url)
        trade_ids = [row["id"] for row in store.query("SELECT id FROM trade_audit ORDER BY id")]
        assert len(trade_ids) >= 2, "the session should have bought and sold"
        explained = [evaluation_for_trade(store, trade_id) for trade_id in trade_ids[:2]]
        for found in explained:
            assert found is not None
            result = explain_evaluation(store, USER, found[0], found[1], ai)
            assert result.ok, result.text
        assert explained[0] is not None
        first_table, first_key = explained[0]
        assert explain_evaluation(store, USER, first_table, first_key, ai).cached
        review = daily_review(store, USER, ai, days=1)
        assert review.result.ok
        assert review.statistics.buys >= 1
        fake.script(Answer('{"go": false, "reason": "spike"}'), Delay(2.0))
        advisor = EntryAdvisor(store, USER, ai)
        context = advisor_context(store)
        assert advisor.advise(context).go is False
        save_settings(
            store,
            USER,
            AiSettings(
                enabled=True, base_url=fake.base_url, advisor_enabled=True, advisor_timeout_seconds=0.2
            ),
            now=datetime.now(UTC),
            saved_by=USER,
        )
        fallback = advisor.advise(context)
        assert (fallback.go, fallback.source) == (True, "fallback")
        calls = recent_calls(store)
        assert [item.purpose for item in calls] == ["advisor", "advisor", "review", "explain", "explain"]
        assert [item.status for item in calls] == ["timeout", "ok", "ok", "ok", "ok"]
        everything_stored = stored_text(store)
    sent = [request.raw for request in fake.requests]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the scan below must have had something to read
    for secret in SECRETS:
        assert secret not in everything_stored
        assert all(secret not in body for body in sent)
        assert secret not in logged
    for request in fake.requests:  # the OpenAI key travels only as the bearer token
        headers = dict(request.headers)
        assert headers.pop("authorization") == f"Bearer {OPENAI_KEY}"
        assert all(secret not in json.dumps(headers) for secret in SECRETS)
    database = tmp_path / f"tradebot_{USER}.db"
    for path in tmp_path.glob(f"{database.name}*"):
        content = path.read_bytes()
        assert all(secret.encode() not in content for secret in SECRETS)


def test_ai_review_off_after_session_sends_nothing(
    exchange: Simulator, fake: FakeOpenAI, tmp_path: Path, resources: ExitStack
) -> None:
    clock = live_session(exchange, tmp_path, resources)
    ai = AiRuntime(box=SecretBox.for_home(tmp_path, {}), clock=clock, environment={})
    with open_user_store(tmp_path, USER) as store:
        row = store.buy_evaluations(MARKET, MINUTE1)[-1]
        key = EvaluationKey(market=row.market, interval=row.interval, candle_start=row.candle_start)
        assert explain_evaluation(store, USER, "buy_eval", key, ai).status is CallStatus.DISABLED
        assert daily_review(store, USER, ai, days=7).result.status is CallStatus.DISABLED
        verdict = EntryAdvisor(store, USER, ai).advise(advisor_context(store))
        assert (verdict.go, verdict.source) == (True, "fallback")
        assert recent_calls(store) == []
    assert fake.requests == []
