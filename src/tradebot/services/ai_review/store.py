"""The AI review's tables in the user's database (schema version 3): settings, key, calls, cache.

Values follow `services.storage.codecs`' conventions: times are UTC epoch nanoseconds, money is exact
Decimal text (`cost_usd`), durations are nanoseconds. Reads take any `Reader` (a `Store`, a snapshot
or a transaction); writes take a `Transaction`, so a caller can group them with its own writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from tradebot.core.models import Interval
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.storage import Reader, StorageError, Transaction
from tradebot.services.storage.codecs import (
    decode_decimal,
    decode_record,
    decode_time,
    encode_record,
    encode_time,
)
from tradebot.services.trade_trace import EvaluationKey, EvaluationTable

Purpose = Literal["explain", "review", "advisor"]
StoredStatus = Literal["pending", "ok", "error", "timeout", "budget"]
PURPOSES: tuple[Purpose, ...] = ("explain", "review", "advisor")
CALL_COLUMNS = (
    "purpose, row_ref, model, prompt, response, status, error, input_tokens, output_tokens, cost_usd, "
    "duration, created_at"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AiCallStart:
    """A request about to be sent (`pending`, cost = the estimate) or refused at once (`budget`)."""

    purpose: Purpose
    row_ref: str | None
    model: str
    prompt: str  # the messages as a JSON array
    status: StoredStatus
    error: str | None
    cost_usd: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AiCallEnd:
    """How a sent request ended: the answer (or error), token counts, cost and duration."""

    status: StoredStatus
    response: str | None
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal
    duration: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class AiCall:
    """One `ai_calls` row: every prompt, answer, token count and cost, whatever the outcome."""

    id: int
    purpose: Purpose
    row_ref: str | None
    model: str
    prompt: str
    response: str | None
    status: StoredStatus
    error: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal
    duration: timedelta | None
    created_at: datetime

    def messages(self) -> list[dict[str, str]]:
        """The prompt as the list of chat messages that was sent."""
        loaded: list[dict[str, str]] = json.loads(self.prompt)
        return loaded


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedExplanation:
    """The explanation of one evaluation row, valid while the row keeps its `evaluated_at`."""

    row_ref: str
    row_evaluated_at: datetime
    call_id: int
    text: str
    created_at: datetime


def row_reference(table: EvaluationTable, key: EvaluationKey) -> str:
    """A row's stable name in `ai_calls.row_ref` and the cache, e.g. `buy_eval/KRW-BTC/minute15/<time>`."""
    start = (
        decode_time(encode_time(key.candle_start)).isoformat().replace("+00:00", "Z")
    )  # UTC, any input zone
    reference = f"{table}/{key.market}/{Interval(key.interval).value}/{start}"
    return f"{reference}/{key.trigger_kind}" if table == "sell_eval" else reference


# --- settings and key ------------------------------------------------------------------------


def read_settings(reader: Reader, username: str) -> AiSettings | None:
    """The user's saved AI settings, or None if never saved."""
    rows = reader.query("SELECT settings FROM ai_settings WHERE username = ?", (username,))
    return AiSettings.model_validate_json(rows[0]["settings"]) if rows else None


def write_settings(
    transaction: Transaction, username: str, settings: AiSettings, *, now: datetime, updated_by: str
) -> None:
    """Insert or replace the user's AI settings."""
    sql = (
        "INSERT INTO ai_settings (username, settings, updated_at, updated_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET settings = excluded.settings, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by"
    )
    document = settings.model_dump_json()
    transaction.execute(sql, (username, document, encode_time(now), updated_by))


def read_key_ciphertext(reader: Reader, username: str) -> bytes | None:
    """The user's encrypted OpenAI API key, if stored."""
    rows = reader.query("SELECT api_key_ciphertext FROM ai_keys WHERE username = ?", (username,))
    return bytes(rows[0]["api_key_ciphertext"]) if rows else None


def write_key_ciphertext(
    transaction: Transaction, username: str, ciphertext: bytes, *, now: datetime
) -> None:
    """Insert or replace the user's encrypted OpenAI API key."""
    sql = (
        "INSERT INTO ai_keys (username, api_key_ciphertext, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (username) DO UPDATE SET api_key_ciphertext = excluded.api_key_ciphertext, "
        "updated_at = excluded.updated_at"
    )
    transaction.execute(sql, (username, ciphertext, encode_time(now)))


def delete_key(transaction: Transaction, username: str) -> None:
    """Forget the user's stored OpenAI API key."""
    transaction.execute("DELETE FROM ai_keys WHERE username = ?", (username,))


# --- calls -----------------------------------------------------------------------------------


def month_start(moment: datetime) -> datetime:
    """The start of `moment`'s calendar month in UTC (budgets reset then, as OpenAI's billing does)."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_since(reader: Reader, since: datetime) -> Decimal:
    """USD recorded since `since`, pending reservations included (summed exactly, not as REAL)."""
    rows = reader.query("SELECT cost_usd FROM ai_calls WHERE created_at >= ?", (encode_time(since),))
    return sum((decode_decimal(row["cost_usd"]) for row in rows), Decimal(0))


def spent_this_month(reader: Reader, now: datetime) -> Decimal:
    """USD recorded in `now`'s calendar month (UTC): what counts against the monthly cap."""
    return spent_since(reader, month_start(now))


def insert_call(transaction: Transaction, start: AiCallStart) -> int:
    """Record a request before it is sent (or its refusal); returns the row id."""
    values = encode_record(start)
    columns = ", ".join(values)
    placeholders = ", ".join(f":{name}" for name in values)
    cursor = transaction.execute(f"INSERT INTO ai_calls ({columns}) VALUES ({placeholders})", values)  # noqa: S608
    return int(cursor.lastrowid or 0)


def finish_call(transaction: Transaction, call_id: int, end: AiCallEnd) -> None:
    """Record how a pending request ended; only a pending row can be finished."""
    values = encode_record(end)
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    sql = f"UPDATE ai_calls SET {assignments} WHERE id = :id AND status = 'pending'"  # noqa: S608
    if transaction.execute(sql, values | {"id": call_id}).rowcount != 1:
        raise StorageError(f"ai call {call_id} is unknown or already finished")


def call(reader: Reader, call_id: int) -> AiCall | None:
    """One recorded call."""
    rows = reader.query(f"SELECT id, {CALL_COLUMNS} FROM ai_calls WHERE id = ?", (call_id,))  # noqa: S608
    return decode_record(AiCall, rows[0]) if rows else None


def recent_calls(reader: Reader, limit: int = 100, purpose: Purpose | None = None) -> list[AiCall]:
    """The newest `limit` calls (of one purpose, if given), newest first."""
    where, parameters = ("WHERE purpose = ?", [purpose]) if purpose is not None else ("", [])
    sql = f"SELECT id, {CALL_COLUMNS} FROM ai_calls {where} ORDER BY id DESC LIMIT ?"  # noqa: S608
    return [decode_record(AiCall, row) for row in reader.query(sql, [*parameters, limit])]


# --- explanation cache -----------------------------------------------------------------------


def cached_explanation(reader: Reader, row_ref: str) -> CachedExplanation | None:
    """The cached explanation of a row, if any (the caller checks it still matches the row)."""
    rows = reader.query("SELECT * FROM ai_explanations WHERE row_ref = ?", (row_ref,))
    return decode_record(CachedExplanation, rows[0]) if rows else None


def save_explanation(transaction: Transaction, explanation: CachedExplanation) -> None:
    """Insert or replace the cached explanation of a row."""
    values = encode_record(explanation)
    sql = (
        "INSERT INTO ai_explanations (row_ref, row_evaluated_at, call_id, text, created_at) "
        "VALUES (:row_ref, :row_evaluated_at, :call_id, :text, :created_at) ON CONFLICT (row_ref) DO UPDATE "
        "SET row_evaluated_at = excluded.row_evaluated_at, call_id = excluded.call_id, "
        "text = excluded.text, created_at = excluded.created_at"
    )
    transaction.execute(sql, values)
