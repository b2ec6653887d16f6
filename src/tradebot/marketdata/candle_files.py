"""Read and write candle files: pyupbit exports, Upbit REST candles and the old crix API CSV.

Files are parsed with pyarrow (vectorised, multi-threaded). Every failure becomes a one-line
`CandleDataError` that starts with the file name, so the CLI can print it as it is.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tradebot.core.errors import CandleDataError
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, FloatArray, IntArray

KST_OFFSET_NS = 9 * 3600 * NANOS_PER_SECOND
MARKET_COLUMNS = ("market", "code")
_FILE_KINDS = {".csv": "CSV", ".parquet": "parquet", ".json": "JSON"}
_MARKET_IN_NAME = re.compile(r"KRW-[A-Z0-9]+")
_ZONE_SUFFIX = re.compile(r"\d\d:\d\d(:\d\d(\.\d*)?)?\s*(Z|[+-]\d\d(:?\d\d)?)$")
_BAD_VALUE = re.compile(r"string: '(.*)' as a scalar")
_MAX_MESSAGE = 300


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
        raise CandleDataError(f"{path.name}: {_one_line(str(error))}") from error
    except (pa.ArrowException, OSError, ValueError, csv.Error) as error:
        kind = _FILE_KINDS.get(path.suffix.lower(), "candle")
        message = f"{path.name}: not a readable {kind} file: {_one_line(str(error))}"
        raise CandleDataError(message) from error


def _load(path: Path) -> LoadedCandles:
    suffix = _checked_suffix(path)
    table, layout, time_column = _READERS[suffix](path)
    start_ns = _times_ns(table.column(time_column), _label(time_column), layout)
    prices = [_float_column(table.column(name), _label(name)) for name in layout.price_columns]
    series, reversed_input = _ordered_series(start_ns, prices)
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
        aware = _ZONE_SUFFIX.search(sample) is not None
        typed[time_column] = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        table = _read_csv_columns(path, typed)
    except pa.ArrowInvalid:
        # A cell that is not a number: read it as text so _float_column can name its row (a
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
            raise CandleDataError(f"{_label(name)} row {row + 1}: {shown} is not a number")


_READERS = {".csv": _read_csv, ".parquet": _read_parquet, ".json": _read_json}


def _times_ns(column: pa.ChunkedArray, label: str, layout: _Layout) -> IntArray:
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
    return nanos if zone is not None else nanos - layout.naive_offset_ns


def _parse_times(column: pa.ChunkedArray, label: str) -> pa.ChunkedArray:
    if len(column) == 0:
        return column.cast(pa.timestamp("ns"))
    # Arrow's strict ISO-8601 cast (YYYY-MM-DD[ T]hh:mm:ss[.f][Z|+hh:mm]) is 4-5x faster than
    # pc.strptime with a format string, but must know up front whether strings carry an offset.
    aware = _ZONE_SUFFIX.search(str(column[0].as_py())) is not None
    target = pa.timestamp("ns", tz="UTC") if aware else pa.timestamp("ns")
    try:
        return column.cast(target)
    except pa.ArrowInvalid as error:
        raise _bad_cell(column, label, error, "a time like 2024-01-01 09:00:00") from error


def _float_column(column: pa.ChunkedArray, label: str) -> FloatArray:
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
    return CandleDataError(f"{label}: {_one_line(str(error))}")


def _ordered_series(start_ns: IntArray, prices: list[FloatArray]) -> tuple[CandleSeries, bool]:
    open_, high, low, close, volume = prices
    steps = np.diff(start_ns)
    if not (steps.size and bool(np.all(steps < 0))):
        return CandleSeries.checked(start_ns, open_, high, low, close, volume), False
    # Newest first: check the prices in file order (row numbers the user can find), with row
    # indices standing in for the times, then flip everything into time order.
    CandleSeries.checked(np.arange(start_ns.size, dtype=np.int64), *prices)
    flipped = [np.ascontiguousarray(column[::-1]) for column in prices]
    return CandleSeries(np.ascontiguousarray(start_ns[::-1]), *flipped), True


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


def _label(name: str) -> str:
    return f"column {name}" if name else "the unnamed first column"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def save_candles(
    series: CandleSeries, path: Path, *, layout: str = "pyupbit", market: str | None = None
) -> None:
    """Write `series` so that `load_candles(path)` gives it back exactly.

    `layout="pyupbit"` writes .csv or .parquet with naive KST starts and `value = close * volume`;
    `layout="upbit"` writes .csv, .json or .parquet with the REST API's keys, newest first.
    Raises `CandleDataError` naming the file for an unsupported layout/suffix or a failed write.
    """
    writer = _WRITERS.get((layout, path.suffix.lower()))
    if writer is None:
        raise CandleDataError(
            f"{path.name}: cannot save layout {layout!r} as '{path.suffix}' "
            "(pyupbit: .csv or .parquet; upbit: .csv, .json or .parquet)"
        )
    try:
        writer(series, path, market)
    except (pa.ArrowException, OSError) as error:
        raise CandleDataError(f"{path.name}: cannot write: {_one_line(str(error))}") from error


def _time_text(start_ns: IntArray, offset_ns: int, separator: str) -> pa.Array:
    moments = pa.array(start_ns + offset_ns, type=pa.timestamp("ns"))
    if not np.any(start_ns % NANOS_PER_SECOND):
        moments = moments.cast(pa.timestamp("s"))  # so whole seconds print without a fraction
    # Casting prints "2024-01-01 09:00:00", ten times faster than pc.strftime.
    text = moments.cast(pa.string())
    return text if separator == " " else pc.utf8_replace_slice(text, 10, 11, separator)


def _pyupbit_prices(series: CandleSeries) -> dict[str, FloatArray]:
    return {
        "open": series.open,
        "high": series.high,
        "low": series.low,
        "close": series.close,
        "volume": series.volume,
        "value": series.close * series.volume,
    }


def _write_pyupbit_csv(series: CandleSeries, path: Path, market: str | None) -> None:
    columns = {"": _time_text(series.start_ns, KST_OFFSET_NS, " "), **_pyupbit_prices(series)}
    pa_csv.write_csv(pa.table(columns), path)


def _write_pyupbit_parquet(series: CandleSeries, path: Path, market: str | None) -> None:
    # pandas writes the KST starts as the index, exactly like pyupbit's DataFrame.to_parquet. It is
    # imported here because importing it costs ~0.5 s that loading a backtest file does not need.
    import pandas as pd  # noqa: PLC0415

    index = pd.DatetimeIndex((series.start_ns + KST_OFFSET_NS).view("datetime64[ns]"))
    pd.DataFrame(_pyupbit_prices(series), index=index).to_parquet(path)


def _upbit_table(series: CandleSeries, market: str | None) -> pa.Table:
    def newest_first(values: FloatArray) -> FloatArray:
        return np.ascontiguousarray(values[::-1])

    start_ns = np.ascontiguousarray(series.start_ns[::-1])
    count = len(series)
    return pa.table(
        {
            "market": pa.repeat(market, count) if market else pa.nulls(count, pa.string()),
            "candle_date_time_utc": _time_text(start_ns, 0, "T"),
            "candle_date_time_kst": _time_text(start_ns, KST_OFFSET_NS, "T"),
            "opening_price": newest_first(series.open),
            "high_price": newest_first(series.high),
            "low_price": newest_first(series.low),
            "trade_price": newest_first(series.close),
            "candle_acc_trade_volume": newest_first(series.volume),
            "candle_acc_trade_price": newest_first(series.close * series.volume),
        }
    )


def _write_upbit_json(series: CandleSeries, path: Path, market: str | None) -> None:
    # Records are assembled column-wise with Arrow string kernels instead of a loop per candle.
    table = _upbit_table(series, market)
    pieces: list[object] = []
    for name in table.column_names:
        pieces.append(("{" if not pieces else ", ") + f'"{name}": ')
        column = table.column(name)
        pieces.append(json.dumps(market) if name == "market" else _json_values(column))
    records = pc.binary_join_element_wise(*pieces, "}", "")
    path.write_text("[\n" + ",\n".join(records.to_pylist()) + "\n]\n", encoding="utf-8")


def _json_values(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_floating(column.type):
        return pc.binary_join_element_wise('"', column, '"', "")  # times: no characters to escape
    # Arrow prints the shortest text that reads back to the same double; ".0" keeps whole
    # numbers floats, as in the API's own responses.
    text = column.cast(pa.string())
    whole = pc.invert(pc.match_substring_regex(text, "[.eE]"))
    return pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)


_WRITERS: dict[tuple[str, str], Callable[[CandleSeries, Path, str | None], None]] = {
    ("pyupbit", ".csv"): _write_pyupbit_csv,
    ("pyupbit", ".parquet"): _write_pyupbit_parquet,
    ("upbit", ".csv"): lambda series, path, market: pa_csv.write_csv(_upbit_table(series, market), path),
    ("upbit", ".json"): _write_upbit_json,
    ("upbit", ".parquet"): lambda series, path, market: pq.write_table(_upbit_table(series, market), path),
}
