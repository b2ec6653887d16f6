"""Explain an evaluation (cached per row) and the daily / weekly review, against the fake OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.ai_support import (
    BUY_CANDLE,
    INTERVAL,
    MARKET,
    NOW,
    SELL_CANDLE,
    USER,
    FrozenClock,
    enable,
    new_user,
    record_history,
    runtime,
)
from tests.fakes.fake_openai import Answer, Failure, FakeOpenAI
from tradebot.core.strategy import Action
from tradebot.services.ai_review.client import CallStatus
from tradebot.services.ai_review.features import (
    EvaluationKey,
    ai_status,
    daily_review,
    evaluation_for_order,
    evaluation_for_trade,
    explain_evaluation,
    find_evaluation,
)
from tradebot.services.ai_review.setup import AiRuntime
from tradebot.services.ai_review.store import recent_calls
from tradebot.services.audit_query import AuditFilter, audit_frame, open_audit_connection
from tradebot.services.records import BuyEvaluation
from tradebot.services.storage import Store

BUY_KEY = EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=BUY_CANDLE)
TICK_KEY = EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=SELL_CANDLE, trigger_kind="tick")


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


def sent_document(fake: FakeOpenAI, index: int = -1) -> dict[str, Any]:
    """The JSON data document of a recorded request's user message."""
    content = fake.requests[index].body["messages"][-1]["content"]
    loaded: dict[str, Any] = json.loads(content.split("Data:\n", 1)[1])
    return loaded


def test_explain_disabled_sends_nothing_and_says_how_to_enable(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    result = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    assert result.status is CallStatus.DISABLED
    assert "OPENAI_API_KEY" in result.text
    assert ai_status(store, USER, ai).state == "disabled"
    assert fake.requests == []
    assert recent_calls(store) == []


def test_explain_buy_row_sends_row_params_and_candles_returns_text(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    fake.script(Answer("It bought: MACD crossed above its signal and the close was above MA20."))
    result = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    assert result.ok
    assert result.text.startswith("It bought")
    assert not result.cached
    document = sent_document(fake)
    assert document["table"] == "buy_eval"
    evaluation = document["evaluation"]
    assert (evaluation["decision"], evaluation["price"], evaluation["candle_start"]) == (
        "buy",
        "102000000",
        "2026-03-10T07:00:00Z",
    )
    assert evaluation["conditions"]["golden_cross"] == {"enabled": True, "passed": True, "value": 120.5}
    assert document["parameters"]["warmup_bars"] == 40
    assert document["conditions"]["buy"]["above_ma20"] is True
    recent = document["recent_candles_oldest_first"]
    assert len(recent) == 20
    assert recent[-1]["start"] == "2026-03-10T07:00:00Z"  # ends with the row's own candle
    assert all(point["macd"] is not None for point in recent)
    assert recent[-1]["ma60"] is not None
    system = fake.requests[-1].body["messages"][0]
    assert system["role"] == "system"
    assert "never place orders" in system["content"]


def test_explain_second_call_cache_hit_sends_nothing(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url)
    first = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    second = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    assert second.cached
    assert second.text == first.text
    assert second.call_id == first.call_id
    assert len(fake.requests) == 1
    assert len(recent_calls(store)) == 1


def test_explain_korean_asks_for_korean_and_caches_apart_from_english(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    english = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    korean = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai, language="ko")
    assert not korean.cached  # an English explanation is no answer for a Korean reader
    task = fake.requests[-1].body["messages"][1]["content"]
    assert "Write your answer in Korean" in task
    assert "Write your answer in Korean" not in fake.requests[0].body["messages"][1]["content"]
    assert explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai, language="ko").cached
    assert explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai).call_id == english.call_id
    assert len(fake.requests) == 2


def test_explain_row_reprocessed_cache_miss_asks_again(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url)
    explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    row = find_evaluation(store, "buy_eval", BUY_KEY)
    assert isinstance(row, BuyEvaluation)
    reprocessed = replace(row, decision=Action.HOLD, evaluated_at=row.evaluated_at + timedelta(minutes=1))
    with store.transaction() as transaction:  # the candle is evaluated again (after a restart)
        transaction.upsert_buy_evaluation(reprocessed)
    fake.script(Answer("It did not buy: no golden cross."))
    again = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    assert again.text == "It did not buy: no golden cross."
    assert len(fake.requests) == 2
    assert explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai).cached


def test_explain_sell_tick_row_sends_exit_levels(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url)
    result = explain_evaluation(store, USER, "sell_eval", TICK_KEY, ai)
    assert result.ok
    evaluation = sent_document(fake)["evaluation"]
    assert (evaluation["trigger_kind"], evaluation["trigger_rule"]) == ("tick", "take_profit")
    assert evaluation["take_profit_price"] == "105060000"
    assert "sold" in fake.requests[-1].body["messages"][-1]["content"]
    (recorded,) = recent_calls(store)
    assert recorded.row_ref == "sell_eval/KRW-BTC/minute15/2026-03-10T09:30:00Z/tick"


def test_explain_missing_row_error_without_request(store: Store, ai: AiRuntime, fake: FakeOpenAI) -> None:
    enable(store, ai, fake.base_url)
    missing = EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=NOW + timedelta(days=1))
    result = explain_evaluation(store, USER, "buy_eval", missing, ai)
    assert result.status is CallStatus.ERROR
    assert "no buy_eval row" in result.text
    assert fake.requests == []


def test_explain_failure_not_cached_next_call_asks_again(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    fake.script(Failure(500))
    assert explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai).status is CallStatus.SERVER_ERROR
    result = explain_evaluation(store, USER, "buy_eval", BUY_KEY, ai)
    assert result.ok
    assert not result.cached
    assert [item.status for item in recent_calls(store)] == ["ok", "error"]


def test_daily_review_statistics_computed_locally_and_sent(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    fake.script(Answer("One winning trade. Try take_profit 0.04 in a backtest."))
    review = daily_review(store, USER, ai, days=1)
    statistics = review.statistics
    assert (statistics.buys, statistics.sells, statistics.closed_trades, statistics.wins) == (1, 1, 1, 1)
    assert statistics.win_rate == Decimal(1)
    assert statistics.realised_profit_krw == Decimal(2500)
    assert statistics.fees_krw == Decimal("99.96")
    assert statistics.exit_rules == {"take_profit": 1}
    assert (statistics.buy_evaluations, statistics.buy_signals) == (2, 1)
    assert statistics.failed_buy_conditions == {"golden_cross": 1}
    assert statistics.sell_rules_held == {"take_profit": 1}
    assert review.result.ok
    assert "backtest" in review.result.text
    sent = sent_document(fake)["statistics"]
    assert sent["win_rate"] == "1.0000"
    assert sent["exit_rules"] == {"take_profit": 1}
    assert sent["parameters"]["warmup_bars"] == 40
    assert "not applied" in fake.requests[-1].body["messages"][-1]["content"]
    (recorded,) = recent_calls(store)
    assert recorded.purpose == "review"


def test_daily_review_day_excludes_older_trades_week_includes_them(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    assert isinstance(ai.clock, FrozenClock)
    ai.clock.current = NOW + timedelta(days=3)
    assert daily_review(store, USER, ai, days=1).statistics.buys == 0
    week = daily_review(store, USER, ai, days=7).statistics
    assert (week.buys, week.sells, week.days) == (1, 1, 7)


def test_daily_review_other_period_refused(store: Store, ai: AiRuntime) -> None:
    with pytest.raises(ValueError, match="1 or 7 days"):
        daily_review(store, USER, ai, days=3)


def test_daily_review_disabled_statistics_only_no_request(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    review = daily_review(store, USER, ai, days=7)
    assert review.result.status is CallStatus.DISABLED
    assert review.statistics.closed_trades == 1
    assert fake.requests == []


def test_evaluation_for_trade_finds_buy_and_tick_sell_rows(store: Store) -> None:
    rows = store.query("SELECT id, order_identifier FROM trade_audit ORDER BY id")
    assert evaluation_for_trade(store, rows[0]["id"]) == ("buy_eval", BUY_KEY)
    assert evaluation_for_trade(store, rows[1]["id"]) == ("sell_eval", TICK_KEY)
    assert evaluation_for_order(store, rows[1]["order_identifier"]) == ("sell_eval", TICK_KEY)
    assert evaluation_for_trade(store, 999) is None
    assert evaluation_for_order(store, "unknown") is None


def test_explain_key_from_audit_frame_kst_timestamp_found(
    store: Store, ai: AiRuntime, fake: FakeOpenAI
) -> None:
    enable(store, ai, fake.base_url)
    with open_audit_connection(store.path) as connection:
        frame = audit_frame(connection, "sell_eval", AuditFilter(trigger_kind="tick"))
    row = frame.iloc[0]  # what the Audit Viewer shows: KST pandas timestamps, interval as text
    key = EvaluationKey(
        market=row["market"],
        interval=row["interval"],
        candle_start=row["candle_start"].to_pydatetime(),
        trigger_kind=row["trigger_kind"],
    )
    result = explain_evaluation(store, USER, "sell_eval", key, ai)
    assert result.ok
    assert recent_calls(store)[0].row_ref == "sell_eval/KRW-BTC/minute15/2026-03-10T09:30:00Z/tick"
