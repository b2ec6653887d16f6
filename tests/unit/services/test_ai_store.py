"""The AI review's tables (schema version 3): upgrade from version 2, call log, budget sums, cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.ai_support import CREATED, INTERVAL, MARKET, NOW, new_user
from tradebot.services.ai_review.store import (
    AiCallEnd,
    AiCallStart,
    CachedExplanation,
    EvaluationKey,
    cached_explanation,
    call,
    finish_call,
    insert_call,
    month_start,
    recent_calls,
    row_reference,
    save_explanation,
    spent_since,
)
from tradebot.services.storage import SCHEMA_VERSION, StorageError, Store
from tradebot.services.storage.ddl import VERSION_2

AI_TABLES = {"ai_settings", "ai_keys", "ai_calls", "ai_explanations"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with new_user(tmp_path) as opened:
        yield opened


def start(cost: str, created_at: datetime = NOW, status: str = "pending") -> AiCallStart:
    return AiCallStart(
        purpose="explain",
        row_ref="buy_eval/KRW-BTC/minute15/2026-03-10T00:00:00Z",
        model="gpt-4o-mini",
        prompt='[{"role": "user", "content": "why?"}]',
        status=status,  # type: ignore[arg-type]
        error=None,
        cost_usd=Decimal(cost),
        created_at=created_at,
    )


def insert(store: Store, record: AiCallStart) -> int:
    with store.transaction() as transaction:
        return insert_call(transaction, record)


def test_version_2_file_upgraded_to_3_keeps_rows_and_adds_ai_tables(tmp_path: Path) -> None:
    path = tmp_path / "tradebot_alice.db"
    with closing(sqlite3.connect(path)) as connection:
        for statement in VERSION_2:
            connection.execute(statement)
        connection.execute("INSERT INTO users (username, created_at) VALUES ('alice', 1)")
        connection.execute("PRAGMA user_version = 2")
        connection.commit()
    with Store.open(path) as store:
        assert store.user("alice") is not None
        tables = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = store.query("PRAGMA user_version")[0][0]
    assert version == SCHEMA_VERSION >= 3
    assert tables >= AI_TABLES


def test_call_recorded_pending_then_finished_with_tokens_cost_and_duration(store: Store) -> None:
    call_id = insert(store, start("0.0009"))
    end = AiCallEnd(
        status="ok",
        response="It bought because MACD crossed its signal.",
        error=None,
        input_tokens=1200,
        output_tokens=80,
        cost_usd=Decimal("0.000228"),
        duration=timedelta(milliseconds=250),
    )
    with store.transaction() as transaction:
        finish_call(transaction, call_id, end)
    recorded = call(store, call_id)
    assert recorded is not None
    assert (recorded.status, recorded.input_tokens, recorded.output_tokens) == ("ok", 1200, 80)
    assert recorded.cost_usd == Decimal("0.000228")
    assert recorded.duration == timedelta(milliseconds=250)
    assert recorded.created_at == NOW
    assert recorded.messages() == [{"role": "user", "content": "why?"}]
    assert store.query("SELECT cost_usd FROM ai_calls")[0][0] == "0.000228"  # exact text, not REAL


def test_finish_call_not_pending_refused(store: Store) -> None:
    call_id = insert(store, start("0", status="budget"))
    end = AiCallEnd(
        status="ok",
        response="x",
        error=None,
        input_tokens=1,
        output_tokens=1,
        cost_usd=Decimal(0),
        duration=timedelta(0),
    )
    with pytest.raises(StorageError, match="unknown or already finished"), store.transaction() as transaction:
        finish_call(transaction, call_id, end)


def test_call_with_negative_cost_or_unknown_purpose_refused(store: Store) -> None:
    with pytest.raises(StorageError):
        insert(store, start("-0.01"))
    with pytest.raises(StorageError), store.transaction() as transaction:
        transaction.execute(
            "INSERT INTO ai_calls (purpose, model, prompt, status, cost_usd, created_at) "
            "VALUES ('trade', 'm', '[]', 'ok', '0', 1)"
        )


def test_spent_since_sums_exact_decimals_of_this_month_only(store: Store) -> None:
    for cost in ("0.1", "0.2", "0.0000001"):
        insert(store, start(cost))
    insert(store, start("9", created_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC)))
    assert spent_since(store, month_start(NOW)) == Decimal("0.3000001")


def test_month_start_first_day_utc_from_any_zone() -> None:
    kst = timezone(timedelta(hours=9))
    assert month_start(datetime(2026, 4, 1, 5, 0, tzinfo=kst)) == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_start(NOW) == datetime(2026, 3, 1, tzinfo=UTC)


def test_recent_calls_newest_first_filtered_by_purpose(store: Store) -> None:
    first = insert(store, start("0.1"))
    second = insert(store, replace(start("0.2"), purpose="review", row_ref=None))
    assert [item.id for item in recent_calls(store)] == [second, first]
    assert [item.id for item in recent_calls(store, purpose="review")] == [second]


def test_cached_explanation_saved_and_replaced(store: Store) -> None:
    call_id = insert(store, start("0.1"))
    first = CachedExplanation(
        row_ref="buy_eval/x", row_evaluated_at=CREATED, call_id=call_id, text="first", created_at=NOW
    )
    with store.transaction() as transaction:
        save_explanation(transaction, first)
    assert cached_explanation(store, "buy_eval/x") == first
    second = CachedExplanation(
        row_ref="buy_eval/x", row_evaluated_at=NOW, call_id=call_id, text="second", created_at=NOW
    )
    with store.transaction() as transaction:
        save_explanation(transaction, second)
    assert cached_explanation(store, "buy_eval/x") == second
    assert cached_explanation(store, "buy_eval/y") is None


def test_row_reference_same_for_any_time_zone_and_names_trigger() -> None:
    utc = EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=datetime(2026, 3, 10, tzinfo=UTC))
    kst = EvaluationKey(
        market=MARKET,
        interval=INTERVAL,
        candle_start=datetime(2026, 3, 10, 9, tzinfo=timezone(timedelta(hours=9))),
    )
    assert (
        row_reference("buy_eval", utc)
        == row_reference("buy_eval", kst)
        == "buy_eval/KRW-BTC/minute15/2026-03-10T00:00:00Z"
    )
    tick = EvaluationKey(market=MARKET, interval=INTERVAL, candle_start=utc.candle_start, trigger_kind="tick")
    assert row_reference("sell_eval", tick).endswith("/tick")
