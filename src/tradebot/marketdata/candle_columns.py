"""Columns of a candle file as checked numpy arrays, and the one-line messages of their failures.

Shared by the loader (`candle_files`) and the writers (`candle_writers`): the KST offset of naive
file times, the pattern of a time with a zone, and how a message names a column and its row.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tradebot.core.errors import CandleDataError
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, FloatArray, IntArray

KST_OFFSET_NS = 9 * 3600 * NANOS_PER_SECOND
ZONE_SUFFIX = re.compile(r"\d\d:\d\d(:\d\d(\.\d*)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$")
_BAD_VALUE = re.compile(r"string: '(.*)' as a scalar")
_MAX_MESSAGE = 300


def times_ns(column: pa.ChunkedArray, label: str, naive_offset_ns: int) -> IntArray:
    """Candle starts as UTC epoch nanoseconds; naive times are `naive_offset_ns` ahead of UTC."""
    if column.null_count:
        row = int(np.flatnonzero(np.asarray(column.is_null()))[0])
        raise CandleDataError(f"{label} row {row + 1} is empty")
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        column = _parse_times(column, label)
    elif pa.types.is_date(kind):
        column = column.cast(pa.timestamp("ns"))
    elif not pa.types.is_timestamp(kind):
        raise CandleDataError(f"{label} holds {kind} values, not times")
    zone = column.type.tz
    nanos = np.asarray(column.cast(pa.timestamp("ns", tz=zone)).cast(pa.int64()), dtype=np.int64)
    # An aware time is an exact instant; a naive one is in the layout's own zone (KST for pyupbit).
    return nanos if zone is not None else nanos - naive_offset_ns


def _parse_times(column: pa.ChunkedArray, label: str) -> pa.ChunkedArray:
    if len(column) == 0:
        return column.cast(pa.timestamp("ns"))
    # Arrow's strict ISO-8601 cast (YYYY-MM-DD[ T]hh:mm:ss[.f][Z|+hh:mm]) is 4-5x faster than
    # pc.strptime with a format string, but must know up front whether strings carry an offset.
    aware = ZONE_SUFFIX.search(str(column[0].as_py())) is not None
    target = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        return column.cast(target)
    except pa.ArrowInvalid as error:
        raise _bad_cell(column, label, error, "a time like 2024-01-01 09:00:00") from error


def float_column(column: pa.ChunkedArray, label: str) -> FloatArray:
    """The column as finite float64 values; a cell that is not a number is named with its row."""
    if pa.types.is_boolean(column.type):
        raise CandleDataError(f"{label} holds true/false values, not numbers")
    if column.type != pa.float64():
        try:
            column = column.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise _bad_cell(column, label, error, "a number") from error
    values = np.asarray(column, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        what = f"is {values[row]}" if column[row].is_valid else "is empty"
        raise CandleDataError(f"{label} row {row + 1} {what}, not a number")
    return values


def _bad_cell(column: pa.ChunkedArray, label: str, error: Exception, expected: str) -> CandleDataError:
    found = _BAD_VALUE.search(str(error))
    if found:
        row = pc.index(column, found.group(1)).as_py()
        if row >= 0:
            value = found.group(1)[:40]
            return CandleDataError(f"{label} row {row + 1}: {value!r} is not {expected}")
    return CandleDataError(f"{label}: {one_line(str(error))}")


def ordered_series(start_ns: IntArray, prices: list[FloatArray]) -> tuple[CandleSeries, bool]:
    """The checked series in time order, and whether the file was newest first (and so flipped)."""
    open_, high, low, close, volume = prices
    steps = np.diff(start_ns)
    if not (steps.size and bool(np.all(steps < 0))):
        return CandleSeries.checked(start_ns, open_, high, low, close, volume), False
    # Newest first: check the prices in file order (row numbers the user can find), with row
    # indices standing in for the times, then flip everything into time order.
    CandleSeries.checked(np.arange(start_ns.size, dtype=np.int64), *prices)
    flipped = [np.ascontiguousarray(column[::-1]) for column in prices]
    return CandleSeries(np.ascontiguousarray(start_ns[::-1]), *flipped), True


def column_label(name: str) -> str:
    """How a message names a column (pyupbit's time column has no name)."""
    return f"column {name}" if name else "the unnamed first column"


def one_line(text: str) -> str:
    """`text` on one line, cut to a length a terminal shows whole."""
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."
