"""The entry advisor: the model's go / no-go, and "go by the rules" whenever it cannot answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.ai_support import (
    CONDITIONS,
    HISTORY,
    PARAMS,
    USER,
    FrozenClock,
    candle_at,
    enable,
    new_user,
    record_history,
    runtime,
)
from tests.fakes.fake_openai import Answer, Behaviour, Delay, Failure, FakeOpenAI, Malformed
from tradebot.core.advisor import AdvisorContext, AdvisorVerdict, EntryAdvisorProtocol
from tradebot.core.indicators import IndicatorRow
from tradebot.core.strategy import Action, ConditionResult, Decision
from tradebot.services.ai_review.advisor import EntryAdvisor, parse_verdict
from tradebot.services.ai_review.setup import AiRuntime
from tradebot.services.ai_review.store import AiCallStart, insert_call, recent_calls
from tradebot.services.storage import Store

CANDLE = candle_at(HISTORY)  # the candle that just closed, not cached yet
CONTEXT = AdvisorContext(
    candle=CANDLE,
    indicators=IndicatorRow(
        close=CANDLE.close, open=CANDLE.open, macd=150.0, signal=90.0, hist=60.0, ma20=1.0e8, ma60=9.9e7
    ),
    decision=Decision(
        Action.BUY,
        "every enabled buy condition held",
        conditions={"golden_cross": ConditionResult(True, True, 150.0)},
        price=CANDLE.close,
    ),
    params=PARAMS,
    conditions=CONDITIONS,
    budget_krw=Decimal(99_950),
)
NO_GO = json.dumps({"go": False, "reason": "price is far above MA20 after a spike"})


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with new_user(tmp_path) as opened:
        record_history(opened)
        yield opened


@pytest.fixture
def ai() -> AiRuntime:
    return runtime(FrozenClock())


def advise(store: Store, ai: AiRuntime) -> AdvisorVerdict:
    advisor: EntryAdvisorProtocol = EntryAdvisor(store, USER, ai)  # what the live loop depends on
    return advisor.advise(CONTEXT)


def test_advisor_model_no_go_vetoes_with_reason(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True)
    fake.script(Answer(NO_GO))
    verdict = advise(store, ai)
    assert verdict == AdvisorVerdict(False, "price is far above MA20 after a spike", "model")
    (recorded,) = recent_calls(store)
    assert (recorded.purpose, recorded.status) == ("advisor", "ok")
    assert recorded.row_ref == "buy_eval/KRW-BTC/minute15/2026-03-10T12:00:00Z"


def test_advisor_model_go_in_code_fence_accepted(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True)
    fake.script(Answer('```json\n{"go": true, "reason": "trend confirmed"}\n```'))
    assert advise(store, ai) == AdvisorVerdict(True, "trend confirmed", "model")


def test_advisor_prompt_holds_candle_indicators_settings_and_recent_candles(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True, advisor_timeout_seconds=1.5)
    advise(store, ai)
    (request,) = fake.requests
    content = request.body["messages"][-1]["content"]
    assert '"go"' in content
    document = json.loads(content.split("Data:\n", 1)[1])
    assert document["decision"]["action"] == "buy"
    assert document["indicators"]["macd"] == 150.0
    assert document["buy_budget_krw"] == "99950"
    assert document["parameters"]["market"] == "KRW-BTC"
    recent = document["recent_candles_oldest_first"]
    assert len(recent) == 20
    assert recent[-1]["start"] == "2026-03-10T12:00:00Z"  # the deciding candle itself is included
    assert request.headers["x-stainless-read-timeout"] == "1.5"


def test_advisor_switched_off_goes_without_request(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=False)
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert fake.requests == []
    assert recent_calls(store) == []


def test_advisor_no_key_goes_without_request(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert fake.requests == []


def test_advisor_timeout_falls_back_to_go_and_is_recorded(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True, advisor_timeout_seconds=0.2)
    fake.script(Delay(2.0, Answer(NO_GO)))
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert "timeout" in verdict.reason
    (recorded,) = recent_calls(store)
    assert recorded.status == "timeout"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (Failure(429), "rate_limited"),
        (Failure(500), "server_error"),
        (Malformed(), "malformed"),
        (Answer("Probably fine, go ahead."), "malformed"),
        (Answer('{"go": "yes", "reason": "ok"}'), "malformed"),
    ],
)
def test_advisor_failure_or_unparseable_answer_falls_back_to_go(
    store: Store, ai: AiRuntime, fake: FakeOpenAI, behaviour: Behaviour, status: str
) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True)
    fake.script(behaviour)
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert status in verdict.reason
    (recorded,) = recent_calls(store)
    assert recorded.status == "error"


def test_advisor_unparseable_answer_still_costs_and_keeps_response(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True)
    fake.script(Answer("GO!", prompt_tokens=1000, completion_tokens=10))
    advise(store, ai)
    (recorded,) = recent_calls(store)
    assert recorded.response == "GO!"
    assert recorded.cost_usd > 0
    assert recorded.error is not None
    assert "unparseable verdict" in recorded.error


def test_advisor_budget_exhausted_goes_without_request(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True, monthly_cap_usd="0.5")
    spent = AiCallStart(
        purpose="explain",
        row_ref=None,
        model="gpt-4o-mini",
        prompt="[]",
        status="ok",
        error=None,
        cost_usd=Decimal("0.5"),
        created_at=ai.clock.now(),
    )
    with store.transaction() as transaction:
        insert_call(transaction, spent)
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert "budget" in verdict.reason
    assert fake.requests == []
    assert recent_calls(store)[0].status == "budget"


def test_advisor_unexpected_error_falls_back_to_go(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url, advisor_enabled=True)
    store.close()  # every database read now fails
    verdict = advise(store, ai)
    assert (verdict.go, verdict.source) == (True, "fallback")
    assert "advisor failed" in verdict.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"go": false, "reason": " spike "}', (False, "spike")),
        ('Sure: {"go": true, "reason": "ok"} hope this helps', (True, "ok")),
    ],
)
def test_parse_verdict_json_object_read(text: str, expected: tuple[bool, str]) -> None:
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    "text", ["go", "{}", '{"go": true}', '{"go": 1, "reason": "x"}', "[true]", '{"go": true,']
)
def test_parse_verdict_not_a_verdict_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"JSON|answer"):
        parse_verdict(text)
