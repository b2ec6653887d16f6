"""Read candle files: pyupbit exports, Upbit REST candles and the old crix API CSV.

Files are parsed with pyarrow (vectorised, multi-threaded). Every failure becomes a one-line
`CandleDataError` that starts with the file name, so the CLI can print it as it is. Writing them
back is `candle_writers.save_candles`; column checks live in `candle_columns`.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tradebot.core.errors import CandleDataError
from tradebot.core.models import CandleSeries
from tradebot.marketdata.candle_columns import (
    KST_OFFSET_NS,
    ZONE_SUFFIX,
    column_label,
    float_column,
    one_line,
    ordered_series,
    times_ns,
)

MARKET_COLUMNS = ("market", "code")
_FILE_KINDS = {".csv": "CSV", ".parquet": "parquet", ".json": "JSON"}
_MARKET_IN_NAME = re.compile(r"KRW-[A-Z0-9]+")


@dataclass(frozen=True, slots=True)
class LoadedCandles:
    """Candles read from a file, with what the file said about itself."""

    series: CandleSeries
    market: str | None  # e.g. "KRW-BTC", from a market/code column or else the file name
    layout: str  # "pyupbit", "upbit" or "upbit_legacy"
    reversed_input: bool  # the file was newest first (Upbit API order) and was flipped


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    time_column: str | None  # None: the first column, or the pandas index in parquet
    price_columns: tuple[str, str, str, str, str]  # open, high, low, close, volume
    naive_offset_ns: int  # subtracted from naive times to get UTC
    expected: str


_EXPECTED = (
    "expected pyupbit layout: open, high, low, close, volume, or Upbit layout: "
    "candle_date_time_utc, opening_price, high_price, low_price, trade_price, "
    "candle_acc_trade_volume"
)
_PYUPBIT = _Layout("pyupbit", None, ("open", "high", "low", "close", "volume"), KST_OFFSET_NS, _EXPECTED)
_UPBIT_PRICES = ("opening_price", "high_price", "low_price", "trade_price", "candle_acc_trade_volume")
_UPBIT = _Layout("upbit", "candle_date_time_utc", _UPBIT_PRICES, 0, _EXPECTED)
_LEGACY_PRICES = ("openingPrice", "highPrice", "lowPrice", "tradePrice", "candleAccTradeVolume")
_LEGACY_EXPECTED = "expected old Upbit crix layout: candleDateTime, " + ", ".join(_LEGACY_PRICES)
_UPBIT_LEGACY = _Layout("upbit_legacy", "candleDateTime", _LEGACY_PRICES, 0, _LEGACY_EXPECTED)
_LAYOUTS = (_PYUPBIT, _UPBIT, _UPBIT_LEGACY)


# What a reader hands over: the needed columns, the layout they follow and the time column's name.
_RawCandles = tuple[pa.Table, _Layout, str]


def load_candles(path: Path) -> LoadedCandles:
    """Read a .csv, .parquet or .json candle file in pyupbit, Upbit or old crix layout.

    Candle starts become UTC epoch nanoseconds (pyupbit's naive times are KST); a file that is
    strictly newest first is flipped into time order. Raises `CandleDataError` with a one-line
    message that starts with the file name.
    """
    try:
        return _load(path)
    except CandleDataError as error:
        raise CandleDataError(f"{path.name}: {one_line(str(error))}") from error
    except (pa.ArrowException, OSError, ValueError, csv.Error) as error:
        kind = _FILE_KINDS.get(path.suffix.lower(), "candle")
        message = f"{path.name}: not a readable {kind} file: {one_line(str(error))}"
        raise CandleDataError(message) from error


def _load(path: Path) -> LoadedCandles:
    suffix = _checked_suffix(path)
    table, layout, time_column = _READERS[suffix](path)
    start_ns = times_ns(table.column(time_column), column_label(time_column), layout.naive_offset_ns)
    prices = [float_column(table.column(name), column_label(name)) for name in layout.price_columns]
    series, reversed_input = ordered_series(start_ns, prices)
    market = _market(table, path)
    del table
    # Arrow's allocator keeps freed pages for reuse; hand them back so a large file's
    # parsing buffers do not stay in the process for the rest of the run.
    pa.default_memory_pool().release_unused()
    return LoadedCandles(series, market, layout.name, reversed_input)


def _checked_suffix(path: Path) -> str:
    if not path.exists():
        raise CandleDataError("file not found")
    if path.is_dir():
        raise CandleDataError("is a directory, not a candle file")
    suffix = path.suffix.lower()
    if suffix not in _FILE_KINDS:
        shown = f"'{path.suffix}'" if path.suffix else "none"
        raise CandleDataError(f"unsupported file type {shown} (expected .csv, .parquet or .json)")
    if path.stat().st_size == 0:
        raise CandleDataError("file is empty")
    return suffix


def _detect_layout(names: list[str], time_index: str | None) -> tuple[_Layout, str]:
    present = set(names)

    def matches(layout: _Layout) -> int:
        return sum(name in present for name in (layout.time_column, *layout.price_columns))

    layout = max(_LAYOUTS, key=matches)  # ties go to pyupbit, listed first
    if matches(layout) == 0:
        shown = ", ".join(repr(name) for name in names[:10])
        raise CandleDataError(f"no known candle columns (found {shown}; {_EXPECTED})")
    time_column = layout.time_column or time_index or names[0]
    required = [time_column, *layout.price_columns]
    missing = [name for name in required if name not in present]
    if missing:
        raise CandleDataError(f"missing columns {', '.join(missing)} ({layout.expected})")
    doubled = [name for name in required if names.count(name) > 1]
    if doubled:
        raise CandleDataError(f"column {doubled[0] or '(unnamed)'} appears more than once")
    if time_column in layout.price_columns:
        raise CandleDataError(
            "no time column: the first column must hold candle starts in naive KST "
            "(pyupbit layout: <time>, open, high, low, close, volume)"
        )
    return layout, time_column


def _wanted_columns(names: list[str], layout: _Layout, time_column: str) -> list[str]:
    markets = [name for name in MARKET_COLUMNS if name in names and name != time_column]
    return [time_column, *layout.price_columns, *markets]


def _read_csv(path: Path) -> _RawCandles:
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = csv.reader(file)
        header, first_row = next(rows, None), next(rows, None)
    if not header:
        raise CandleDataError("no header row")
    layout, time_column = _detect_layout(header, None)
    wanted = _wanted_columns(header, layout, time_column)
    as_text = dict.fromkeys(wanted, pa.string())
    typed = as_text | dict.fromkeys(layout.price_columns, pa.float64())
    if first_row and len(first_row) == len(header):
        # Parsing times while reading avoids holding a million strings: a 1M-row file then fits
        # the benchmark's memory budget. A file this does not fit is read as text below.
        sample = first_row[header.index(time_column)]
        aware = ZONE_SUFFIX.search(sample) is not None
        typed[time_column] = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        table = _read_csv_columns(path, typed)
    except pa.ArrowInvalid:
        # A cell that is not a number: read it as text so float_column can name its row (a
        # malformed row fails again and is reported by load_candles).
        table = _read_csv_columns(path, as_text)
    return table, layout, time_column


def _read_csv_columns(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    # Only empty cells are missing values, so a literal "NaN" is reported as NaN, not as empty.
    options = pa_csv.ConvertOptions(column_types=types, include_columns=list(types), null_values=[""])
    return pa_csv.read_csv(path, convert_options=options)


def _read_parquet(path: Path) -> _RawCandles:
    schema = pq.read_schema(path)
    layout, time_column = _detect_layout(schema.names, _time_index(schema))
    wanted = _wanted_columns(schema.names, layout, time_column)
    return pq.read_table(path, columns=wanted), layout, time_column


def _time_index(schema: pa.Schema) -> str | None:
    # pyupbit saves candle starts as the pandas index, which parquet stores as a column.
    metadata = schema.pandas_metadata or {}
    for name in metadata.get("index_columns", []):
        # A RangeIndex is stored as a dict, not as a column.
        if isinstance(name, str) and name in schema.names:
            kind = schema.field(name).type
            if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
                return name
    return None


def _read_json(path: Path) -> _RawCandles:
    with path.open("rb") as file:
        document = json.load(file)
    if isinstance(document, dict) and "error" in document:
        detail = json.dumps(document["error"], ensure_ascii=False)
        raise CandleDataError(f"an Upbit error response, not candles: {detail}")
    if not isinstance(document, list) or not document:
        raise CandleDataError("expected a non-empty JSON array of candles (Upbit candle response)")
    if not all(isinstance(record, dict) for record in document):
        raise CandleDataError("expected a JSON array of candle objects")
    table = pa.Table.from_pylist(document)
    layout, time_column = _detect_layout(table.column_names, None)
    _refuse_booleans(document, layout.price_columns)
    return table, layout, time_column


def _refuse_booleans(records: list[dict[str, object]], names: tuple[str, ...]) -> None:
    # Arrow reads JSON `true` in a number column as 1.0, which could pass as a price or volume.
    for name in names:
        row = next((row for row, record in enumerate(records) if isinstance(record.get(name), bool)), None)
        if row is not None:
            shown = json.dumps(records[row][name])
            raise CandleDataError(f"{column_label(name)} row {row + 1}: {shown} is not a number")


_READERS = {".csv": _read_csv, ".parquet": _read_parquet, ".json": _read_json}


def _market(table: pa.Table, path: Path) -> str | None:
    for name in MARKET_COLUMNS:
        if name not in table.column_names:
            continue
        codes = [code for code in pc.unique(table.column(name).drop_null()).to_pylist() if code]
        if len(codes) > 1:
            shown = ", ".join(sorted(str(code) for code in codes)[:5])
            raise CandleDataError(f"column {name} mixes several markets: {shown}")
        if codes:
            # The old crix API names markets like CRIX.UPBIT.KRW-BTC.
            return str(codes[0]).rsplit(".", 1)[-1]
    found = _MARKET_IN_NAME.search(path.name.upper())
    return found.group(0) if found else None
