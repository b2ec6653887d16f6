"""The AI client against the fake OpenAI server: budget checked first, typed failures, calls recorded."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.ai_support import NOW, OPENAI_KEY, USER, FrozenClock, enable, new_user, runtime
from tests.fakes.fake_openai import Answer, Delay, Failure, FakeOpenAI, Malformed
from tradebot.services.ai_review.client import AiClient, AiResult, CallStatus, Message
from tradebot.services.ai_review.config import PRICES, UNKNOWN_MODEL_PRICE
from tradebot.services.ai_review.setup import AiRuntime, AiSetup, load_setup
from tradebot.services.ai_review.store import AiCallStart, call, insert_call, recent_calls
from tradebot.services.storage import Store

MESSAGES: list[Message] = [
    {"role": "system", "content": "You explain a trading bot."},
    {"role": "user", "content": "Why did it buy at 102,000,000 KRW?"},
]


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
        yield opened


@pytest.fixture
def ai() -> AiRuntime:
    return runtime(FrozenClock())


def setup_for(store: Store, ai: AiRuntime, base_url: str, **overrides: object) -> AiSetup:
    enable(store, ai, base_url, **overrides)
    return load_setup(store, USER, ai.box, {})


def complete(store: Store, ai: AiRuntime, base_url: str, **overrides: object) -> AiResult:
    with AiClient(store, setup_for(store, ai, base_url, **overrides), ai.clock) as client:
        return client.complete("explain", MESSAGES, row_ref="buy_eval/x")


def spend(store: Store, cost: str) -> None:
    record = AiCallStart(
        purpose="review",
        row_ref=None,
        model="gpt-4o-mini",
        prompt="[]",
        status="ok",
        error=None,
        cost_usd=Decimal(cost),
        created_at=NOW,
    )
    with store.transaction() as transaction:
        insert_call(transaction, record)


def test_complete_ok_records_prompt_answer_tokens_and_cost(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    fake.script(Answer("MACD crossed above its signal.", prompt_tokens=1000, completion_tokens=100))
    result = complete(store, ai, fake.base_url)
    assert result.status is CallStatus.OK
    assert result.text == "MACD crossed above its signal."
    expected = (
        1000 * PRICES["gpt-4o-mini"].input_per_million + 100 * PRICES["gpt-4o-mini"].output_per_million
    ) / 10**6
    assert result.cost_usd == expected == Decimal("0.00021")
    assert result.call_id is not None
    recorded = call(store, result.call_id)
    assert recorded is not None
    assert (recorded.status, recorded.purpose, recorded.row_ref, recorded.model) == (
        "ok",
        "explain",
        "buy_eval/x",
        "gpt-4o-mini",
    )
    assert recorded.messages() == MESSAGES
    assert recorded.response == "MACD crossed above its signal."
    assert (recorded.input_tokens, recorded.output_tokens, recorded.cost_usd) == (1000, 100, expected)
    assert recorded.duration is not None


def test_complete_sends_model_messages_and_key_only_as_bearer(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    complete(store, ai, fake.base_url, model="gpt-4.1-mini", max_output_tokens=321)
    (request,) = fake.requests
    assert request.body["model"] == "gpt-4.1-mini"
    assert request.body["messages"] == MESSAGES
    assert request.body["max_tokens"] == 321
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["x-stainless-retry-count"] == "0"
    assert OPENAI_KEY not in request.raw


def test_complete_cap_reached_sends_nothing_records_budget(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    spend(store, "1.00")
    result = complete(store, ai, fake.base_url, monthly_cap_usd="1.00")
    assert result.status is CallStatus.BUDGET
    assert "1.00 USD cap" in result.text
    assert fake.requests == []
    assert result.call_id is not None
    recorded = call(store, result.call_id)
    assert recorded is not None
    assert (recorded.status, recorded.cost_usd) == ("budget", Decimal(0))
    assert recorded.messages() == MESSAGES  # what would have been sent is still shown


def test_complete_estimate_would_cross_cap_refused(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    # 600 output tokens of gpt-4o-mini alone are 0.00036 USD: 0.9997 + that crosses 1.00.
    spend(store, "0.9997")
    assert complete(store, ai, fake.base_url, monthly_cap_usd="1").status is CallStatus.BUDGET
    assert fake.requests == []


def test_complete_cap_last_month_spending_not_counted(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    spend(store, "5")
    assert isinstance(ai.clock, FrozenClock)
    ai.clock.current = NOW.replace(month=4, day=1, hour=0)
    assert complete(store, ai, fake.base_url, monthly_cap_usd="1").status is CallStatus.OK


def test_complete_zero_cap_never_sends(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    assert complete(store, ai, fake.base_url, monthly_cap_usd="0").status is CallStatus.BUDGET
    assert fake.requests == []


def test_complete_timeout_typed_and_estimate_counted(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    fake.script(Delay(2.0))
    result = complete(store, ai, fake.base_url, timeout_seconds=0.2)
    assert result.status is CallStatus.TIMEOUT
    assert result.cost_usd > 0  # the server may have finished and billed the answer
    assert result.call_id is not None
    recorded = call(store, result.call_id)
    assert recorded is not None
    assert recorded.status == "timeout"
    assert recorded.response is None
    assert recorded.cost_usd == result.cost_usd


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, CallStatus.RATE_LIMITED),
        (500, CallStatus.SERVER_ERROR),
        (503, CallStatus.SERVER_ERROR),
        (401, CallStatus.ERROR),
    ],
)
def test_complete_http_error_typed_costs_nothing_one_request(
    store: Store, ai: AiRuntime, fake: FakeOpenAI, status: int, expected: CallStatus
) -> None:
    fake.script(Failure(status))
    result = complete(store, ai, fake.base_url)
    assert result.status is expected
    assert f"HTTP {status}" in result.text
    assert result.cost_usd == 0
    assert len(fake.requests) == 1  # no retry
    assert result.call_id is not None
    recorded = call(store, result.call_id)
    assert recorded is not None
    assert recorded.status == "error"
    assert recorded.error is not None
    assert recorded.error.startswith(expected.value)


@pytest.mark.parametrize(
    "behaviour",
    [
        Malformed(),
        Malformed('{"id": "x"}'),
        Malformed('{"choices": []}'),
        Malformed("<html>proxy error</html>", "text/html"),
        Answer(""),
    ],
)
def test_complete_malformed_answer_typed_malformed(
    store: Store, ai: AiRuntime, fake: FakeOpenAI, behaviour: Malformed | Answer
) -> None:
    fake.script(behaviour)
    result = complete(store, ai, fake.base_url)
    assert result.status is CallStatus.MALFORMED
    assert result.call_id is not None
    recorded = call(store, result.call_id)
    assert recorded is not None
    assert recorded.status == "error"
    assert recorded.error is not None
    assert recorded.error.startswith("malformed")


def test_complete_unreachable_server_error(store: Store, ai: AiRuntime) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = complete(store, ai, f"http://127.0.0.1:{port}/v1")
    assert result.status is CallStatus.ERROR
    assert "cannot reach" in result.text
    assert result.cost_usd == 0


def test_complete_answer_without_usage_charged_estimate(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    fake.script(Answer("fine", include_usage=False))
    result = complete(store, ai, fake.base_url)
    assert result.ok
    assert result.input_tokens is None
    assert result.cost_usd > 0


def test_complete_unknown_model_charged_conservative_price(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    fake.script(Answer("ok", prompt_tokens=1_000_000, completion_tokens=0))
    result = complete(store, ai, fake.base_url, model="local-llama", monthly_cap_usd="10000")
    assert result.cost_usd == UNKNOWN_MODEL_PRICE.input_per_million


def test_complete_prompt_containing_key_refused_and_withheld(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    setup = setup_for(store, ai, fake.base_url)
    leaking: list[Message] = [{"role": "user", "content": f"my key is {OPENAI_KEY}"}]
    with AiClient(store, setup, ai.clock) as client:
        result = client.complete("review", leaking)
    assert result.status is CallStatus.ERROR
    assert fake.requests == []
    stored = " ".join(f"{item.prompt} {item.response} {item.error}" for item in recent_calls(store))
    assert OPENAI_KEY not in stored
    assert "withheld" in stored


def test_complete_server_echoing_key_scrubbed(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    fake.script(Failure(401, f"Incorrect API key provided: {OPENAI_KEY}"), Answer(f"echo {OPENAI_KEY}"))
    first = complete(store, ai, fake.base_url)
    second = complete(store, ai, fake.base_url)
    assert OPENAI_KEY not in first.text + second.text
    stored = " ".join(f"{item.prompt} {item.response} {item.error}" for item in recent_calls(store))
    assert OPENAI_KEY not in stored
    assert "***" in stored


def test_client_without_key_refused(store: Store) -> None:
    setup = load_setup(store, USER, runtime().box, {})
    with pytest.raises(ValueError, match="needs an API key"):
        AiClient(store, setup, FrozenClock())
