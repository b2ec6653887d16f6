"""Column codecs: the only converters between Python values and the per-user database's columns.

Times are aware UTC `datetime`s on the Python side and INTEGER epoch nanoseconds in the file (a
naive datetime is refused); money is an exact `Decimal` as plain-notation TEXT; JSON objects are
TEXT with NaN and Infinity refused. A row dataclass's codecs are chosen from its fields' type
annotations, so `encode_record` and `decode_record` convert any record of `services.records`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from tradebot.core.models import datetime_to_nanos, nanos_to_datetime
from tradebot.core.strategy import ConditionResult
from tradebot.services.storage.errors import StorageError

KST = timezone(timedelta(hours=9), "KST")  # the original system wrote naive Korean wall-clock times

SqlValue = int | float | str | bytes | None
Encoder = Callable[[Any], SqlValue]
Decoder = Callable[[Any], object]
RecordT = TypeVar("RecordT")


def encode_decimal(value: Decimal) -> str:
    """An exact, finite Decimal as plain-notation text; anything else (a float) is refused."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise StorageError(f"expected a finite Decimal, got {type(value).__name__}")
    return format(value, "f")


def decode_decimal(text: str) -> Decimal:
    """The Decimal a money column holds."""
    return Decimal(text)


def encode_time(moment: datetime) -> int:
    """An aware datetime as UTC epoch nanoseconds; a naive one is refused."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise StorageError("expected an aware datetime (naive times are ambiguous)")
    return datetime_to_nanos(moment)


def decode_time(nanos: int) -> datetime:
    """UTC epoch nanoseconds as an aware UTC datetime."""
    return nanos_to_datetime(nanos)


def encode_json(document: Mapping[str, object]) -> str:
    """A JSON object as text; NaN, Infinity and values JSON cannot hold are refused."""
    if not isinstance(document, Mapping):
        raise StorageError(f"expected a JSON object, got {type(document).__name__}")
    try:
        return json.dumps(document, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise StorageError(f"not storable as JSON ({error})") from None


def decode_json(text: str) -> dict[str, object]:
    """The JSON object a column holds."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise StorageError("a JSON column does not hold an object")
    return document


def _encode_duration(value: timedelta) -> int:
    if not isinstance(value, timedelta):
        raise StorageError(f"expected a timedelta, got {type(value).__name__}")
    return (value // timedelta(microseconds=1)) * 1000


def _encode_float(value: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StorageError(f"expected a float, got {type(value).__name__}")
    return float(value) if math.isfinite(value) else None  # an undefined indicator is NULL


def _checked(kind: type, convert: Callable[[Any], SqlValue]) -> Encoder:
    def encode(value: object) -> SqlValue:
        # bool is an int subclass; a flag stored in a count column is a bug, not a number
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise StorageError(f"expected {kind.__name__}, got {type(value).__name__}")
        return convert(value)

    return encode


def _literal_encoder(allowed: tuple[str, ...]) -> Encoder:
    def encode(value: object) -> SqlValue:
        if value not in allowed:
            raise StorageError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return encode


def _encode_conditions(results: Mapping[str, ConditionResult]) -> str:
    document = {
        key: {"enabled": result.enabled, "passed": result.passed, "value": result.value}
        for key, result in results.items()
    }
    return encode_json(document)


def _decode_conditions(text: str) -> dict[str, ConditionResult]:
    return {
        key: ConditionResult(bool(item["enabled"]), bool(item["passed"]), item["value"])
        for key, item in json.loads(text).items()
    }


PLAIN_CODECS: dict[object, tuple[Encoder, Decoder]] = {
    Decimal: (encode_decimal, decode_decimal),
    datetime: (encode_time, decode_time),
    timedelta: (_encode_duration, lambda nanos: timedelta(microseconds=nanos // 1000)),
    bool: (_checked(bool, int), bool),
    int: (_checked(int, int), int),
    float: (_encode_float, float),
    str: (_checked(str, str), str),
    bytes: (_checked(bytes, bytes), bytes),  # ciphertext only (api_keys)
}


def _resolve(annotation: Any) -> tuple[Encoder, Decoder]:
    arguments = get_args(annotation)
    if type(None) in arguments:
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        encode, decode = _resolve(inner)
        return (
            lambda value: None if value is None else encode(value),
            lambda value: None if value is None else decode(value),
        )
    if annotation in PLAIN_CODECS:
        return PLAIN_CODECS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return (lambda value: annotation(value).value, annotation)
    if get_origin(annotation) is Literal:
        return (_literal_encoder(arguments), str)
    if get_origin(annotation) is dict and arguments[1] is ConditionResult:
        return (_encode_conditions, _decode_conditions)
    if get_origin(annotation) is dict:
        return (encode_json, decode_json)
    raise TypeError(f"no column codec for {annotation!r}")


@dataclass(frozen=True, slots=True)
class ColumnCodec:
    """How one dataclass field is written to and read from its column of the same name."""

    name: str
    encode: Encoder
    decode: Decoder


_CODECS: dict[type, tuple[ColumnCodec, ...]] = {}


def record_codecs(record_type: type) -> tuple[ColumnCodec, ...]:
    """Codecs for every field of a row dataclass, chosen by the field's type annotation (cached)."""
    if record_type not in _CODECS:
        hints = get_type_hints(record_type)
        codecs = (ColumnCodec(item.name, *_resolve(hints[item.name])) for item in fields(record_type))
        _CODECS[record_type] = tuple(codecs)
    return _CODECS[record_type]


def encode_record(record: object) -> dict[str, SqlValue]:
    """A row dataclass as column values; a value of the wrong type raises StorageError naming it."""
    values: dict[str, SqlValue] = {}
    for codec in record_codecs(type(record)):
        try:
            values[codec.name] = codec.encode(getattr(record, codec.name))
        except (StorageError, ValueError) as error:  # ValueError: not a member of the field's enum
            raise StorageError(f"{type(record).__name__}.{codec.name}: {error}") from None
    return values


def decode_record(record_type: type[RecordT], row: sqlite3.Row) -> RecordT:
    """A row dataclass from a database row holding (at least) its fields' columns."""
    values = {codec.name: codec.decode(row[codec.name]) for codec in record_codecs(record_type)}
    return record_type(**values)
