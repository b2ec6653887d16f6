"""Reading Upbit JSON into typed values; any malformed input raises `UpbitResponseError`.

JSON numbers are decoded as Decimal (quotation prices arrive as numbers, exchange amounts as
strings), so no amount ever passes through a binary float.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tradebot.exchange.upbit.errors import UpbitResponseError


def decode_json(body: str, what: str) -> object:
    """Parse a response body, with JSON numbers as Decimal."""
    try:
        document: object = json.loads(body, parse_float=Decimal)
    except ValueError as error:
        # ValueError covers JSONDecodeError and invalid UTF-8 surrogates alike.
        raise UpbitResponseError(f"{what}: body is not valid JSON ({error})") from None
    except RecursionError:
        raise UpbitResponseError(f"{what}: body is not valid JSON (nested too deeply)") from None
    return document


def as_list(document: object, what: str) -> list[object]:
    """`document` as a JSON array."""
    if not isinstance(document, list):
        raise UpbitResponseError(f"{what}: expected a JSON array, got {type(document).__name__}")
    return document


class Fields:
    """Typed access to one JSON object; a missing or mistyped field is an `UpbitResponseError`."""

    def __init__(self, document: object, what: str) -> None:
        if not isinstance(document, dict):
            raise UpbitResponseError(f"{what}: expected a JSON object, got {type(document).__name__}")
        self._document: dict[str, Any] = document
        self._what = what

    def _fail(self, key: str, problem: str) -> UpbitResponseError:
        return UpbitResponseError(f"{self._what}: field {key!r} {problem}")

    def has(self, key: str) -> bool:
        """True when `key` is present and not null."""
        return self._document.get(key) is not None

    def _get(self, key: str) -> object:
        value = self._document.get(key)
        if value is None:
            raise self._fail(key, "is missing")
        return value

    def text(self, key: str) -> str:
        """A required string field."""
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, f"is not a string: {value!r}")
        return value

    def optional_text(self, key: str) -> str | None:
        """A string field that may be absent."""
        return self.text(key) if self.has(key) else None

    def decimal(self, key: str) -> Decimal:
        """A required amount, sent as a string or a JSON number."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self._fail(key, f"is not a number: {value!r}")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self._fail(key, f"is not a number: {value!r}") from None
        if not amount.is_finite():
            raise self._fail(key, f"is not finite: {value!r}")
        return amount

    def optional_decimal(self, key: str) -> Decimal | None:
        """An amount that may be absent (e.g. `price` of a market sell)."""
        return self.decimal(key) if self.has(key) else None

    def integer(self, key: str) -> int:
        """A required integer field."""
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"is not an integer: {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        """A required boolean field."""
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(key, f"is not a boolean: {value!r}")
        return value

    def aware_datetime(self, key: str) -> datetime:
        """An ISO-8601 time with an offset (orders and trades: KST `+09:00`), kept aware."""
        moment = self._iso(key)
        if moment.tzinfo is None:
            raise self._fail(key, "has no UTC offset")
        return moment

    def utc_datetime(self, key: str) -> datetime:
        """An offset-less ISO-8601 time known to be UTC (`candle_date_time_utc`), made aware."""
        moment = self._iso(key)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 moved across midnight
            raise self._fail(key, f"is out of range: {moment.isoformat()}") from None

    def epoch_millis(self, key: str) -> datetime:
        """Epoch milliseconds (`timestamp`) as an aware UTC datetime."""
        millis = self.integer(key)
        try:
            return datetime.fromtimestamp(millis / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise self._fail(key, f"is not a valid epoch-millisecond time: {millis}") from None

    def _iso(self, key: str) -> datetime:
        text = self.text(key)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self._fail(key, f"is not an ISO-8601 time: {text!r}") from None

    def nested(self, key: str) -> Fields:
        """A required nested object."""
        return Fields(self._get(key), f"{self._what}.{key}")

    def true_flags(self, key: str, names: tuple[str, ...]) -> frozenset[str]:
        """Which of `names` are true in a required object of booleans (`market_event.caution`).

        A name that is absent counts as false; other members are ignored, like any extra field.
        """
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._fail(key, f"is not an object: {value!r}")
        flags = Fields(value, f"{self._what}.{key}")
        return frozenset(name for name in names if flags.has(name) and flags.boolean(name))

    def objects(self, key: str) -> list[Fields]:
        """A required array of objects."""
        value = self._get(key)
        where = f"{self._what}.{key}"
        return [Fields(item, f"{where}[{index}]") for index, item in enumerate(as_list(value, where))]

    def texts(self, key: str) -> tuple[str, ...]:
        """A required array of strings."""
        items = as_list(self._get(key), f"{self._what}.{key}")
        if not all(isinstance(item, str) for item in items):
            raise self._fail(key, "is not a list of strings")
        return tuple(str(item) for item in items)
