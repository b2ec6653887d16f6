"""Candle data: NaN, infinite, negative, zero, impossible, unsorted, duplicated or huge values.

Whatever the corruption and wherever it sits, `CandleSeries.checked`, the candle file loaders and
the exchange's candle parser refuse it with a typed error (`CandleDataError`, one line naming the
file and row; `UpbitResponseError` for a response). Valid data is accepted exactly as it is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.property.strategies import PROPERTY_SETTINGS, one_line
from tradebot.core.errors import CandleDataError
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries
from tradebot.exchange.upbit.errors import UpbitResponseError
from tradebot.exchange.upbit.models import parse_candle
from tradebot.exchange.upbit.parsing import Fields, as_list, decode_json
from tradebot.marketdata.candle_files import load_candles
from tradebot.marketdata.candle_writers import save_candles

MINUTE_NS = 60 * NANOS_PER_SECOND
START_NS = 1_773_000_000 * NANOS_PER_SECOND  # 2026-03-08, a whole minute
PRICE_COLUMNS = ("open", "high", "low", "close")
BAD_NUMBERS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "negative": -5.0, "zero": 0.0}


@dataclass(frozen=True)
class Rows:
    """Plain candle rows: starts in epoch nanoseconds, prices and volumes as floats."""

    start_ns: list[int]
    columns: dict[str, list[float]]

    def series(self) -> CandleSeries:
        return CandleSeries.checked(
            np.array(self.start_ns, dtype=np.int64), *(np.array(self.columns[name]) for name in NAMES)
        )


NAMES = (*PRICE_COLUMNS, "volume")
PRICES = st.floats(min_value=1e-8, max_value=1e12)


@st.composite
def valid_rows(draw: st.DrawFn, min_size: int = 2) -> Rows:
    """A valid series: increasing whole-minute starts (gaps allowed), consistent OHLC, volume >= 0."""
    steps = draw(st.lists(st.integers(1, 5), min_size=min_size - 1, max_size=20))
    starts = [START_NS]
    for step in steps:
        starts.append(starts[-1] + step * MINUTE_NS)
    columns: dict[str, list[float]] = {name: [] for name in NAMES}
    for _ in starts:
        open_, close = draw(PRICES), draw(PRICES)
        columns["open"].append(open_)
        columns["close"].append(close)
        columns["high"].append(max(open_, close) * draw(st.floats(1.0, 2.0)))
        columns["low"].append(min(open_, close) / draw(st.floats(1.0, 2.0)))
        columns["volume"].append(draw(st.floats(min_value=0.0, max_value=1e12)))
    return Rows(starts, columns)


def corrupted(rows: Rows, row: int, kind: str, column: str) -> Rows:
    """`rows` with one corruption at `row`: a bad number, a repeated or backward start, or an
    impossible candle (high below the body, low above it)."""
    starts, columns = list(rows.start_ns), {name: list(values) for name, values in rows.columns.items()}
    if kind in BAD_NUMBERS:
        if not (column == "volume" and kind == "zero"):  # no volume is a quiet market, not an error
            columns[column][row] = BAD_NUMBERS[kind]
        else:
            columns[column][row] = -1.0
    elif kind == "duplicate":
        starts[row] = starts[row - 1]
    elif kind == "backwards":
        starts[row] = starts[row - 1] - MINUTE_NS
    elif kind == "high_below_body":
        columns["high"][row] = min(columns["open"][row], columns["close"][row]) / 2
        columns["low"][row] = min(columns["low"][row], columns["high"][row])
    else:  # low_above_body
        columns["low"][row] = max(columns["open"][row], columns["close"][row]) * 2
        columns["high"][row] = max(columns["high"][row], columns["low"][row])
    return Rows(starts, columns)


KINDS = (*BAD_NUMBERS, "duplicate", "backwards", "high_below_body", "low_above_body")


@st.composite
def corrupted_rows(draw: st.DrawFn) -> Rows:
    # Three rows at least: two rows with the second going back are a valid newest-first file.
    rows = draw(valid_rows(min_size=3))
    row = draw(st.integers(1, len(rows.start_ns) - 1))
    return corrupted(rows, row, draw(st.sampled_from(KINDS)), draw(st.sampled_from(NAMES)))


@PROPERTY_SETTINGS
@given(rows=valid_rows(min_size=1))
def test_series_checked_valid_rows_are_accepted_unchanged(rows: Rows) -> None:
    series = rows.series()
    assert series.start_ns.tolist() == rows.start_ns
    for name in NAMES:
        assert getattr(series, name).tolist() == rows.columns[name]


@PROPERTY_SETTINGS
@given(rows=corrupted_rows())
def test_series_checked_any_corruption_raises_candle_data_error(rows: Rows) -> None:
    with pytest.raises(CandleDataError) as refused:
        rows.series()
    assert one_line(str(refused.value))


@PROPERTY_SETTINGS
@given(rows=valid_rows(), extra=st.integers(1, 3), column=st.sampled_from(("start", *NAMES)))
def test_series_checked_columns_of_different_lengths_are_refused(rows: Rows, extra: int, column: str) -> None:
    starts = rows.start_ns + [rows.start_ns[-1] + MINUTE_NS * (step + 1) for step in range(extra)]
    columns = dict(rows.columns)
    if column != "start":
        columns[column] = columns[column] + [1.0] * extra
        starts = rows.start_ns
    with pytest.raises(CandleDataError, match="different lengths"):
        Rows(starts, columns).series()


def upbit_records(rows: Rows) -> list[dict[str, object]]:
    """The rows as Upbit's REST candle objects, newest first (as the API sends them)."""
    records = []
    for index, start in enumerate(rows.start_ns):
        moment = np.datetime64(start, "ns").astype("datetime64[s]").astype(str)
        records.append(
            {
                "market": "KRW-BTC",
                "candle_date_time_utc": moment,
                "opening_price": rows.columns["open"][index],
                "high_price": rows.columns["high"][index],
                "low_price": rows.columns["low"][index],
                "trade_price": rows.columns["close"][index],
                "candle_acc_trade_volume": rows.columns["volume"][index],
            }
        )
    return records[::-1]


def write_json(path: Path, records: list[dict[str, object]]) -> None:
    # allow_nan: the file may hold NaN and Infinity, as Python's json writes them.
    path.write_text(json.dumps(records, allow_nan=True), encoding="utf-8")


def assert_refused_naming_file(path: Path) -> CandleDataError:
    with pytest.raises(CandleDataError) as refused:
        load_candles(path)
    message = str(refused.value)
    assert one_line(message), message
    assert message.startswith(f"{path.name}: "), message
    return refused.value


@PROPERTY_SETTINGS
@given(
    rows=valid_rows(), layout=st.sampled_from([("pyupbit", ".csv"), ("upbit", ".json"), ("upbit", ".csv")])
)
def test_candle_file_valid_rows_round_trip_through_save_and_load(
    tmp_path: Path, rows: Rows, layout: tuple[str, str]
) -> None:
    path = tmp_path / f"KRW-BTC{layout[1]}"
    save_candles(rows.series(), path, layout=layout[0], market="KRW-BTC")
    loaded = load_candles(path).series
    assert loaded.start_ns.tolist() == rows.start_ns
    for name in NAMES:
        assert getattr(loaded, name).tolist() == rows.columns[name]


@PROPERTY_SETTINGS
@given(rows=corrupted_rows())
def test_candle_json_file_any_corruption_is_refused_naming_the_file(tmp_path: Path, rows: Rows) -> None:
    path = tmp_path / "candles.json"
    write_json(path, upbit_records(rows))
    assert_refused_naming_file(path)


BAD_CELLS = ["NaN", "inf", "-inf", "1e400", "-1e400", "-5", "0", "abc", "", "true", "0x10", "1,5"]


@PROPERTY_SETTINGS
@given(rows=valid_rows(), data=st.data())
def test_candle_csv_file_bad_cell_is_refused_naming_the_file(
    tmp_path: Path, rows: Rows, data: st.DataObject
) -> None:
    records = upbit_records(rows)
    row = data.draw(st.integers(0, len(records) - 1))
    column = data.draw(st.sampled_from(["opening_price", "high_price", "low_price", "trade_price"]))
    cell = data.draw(st.sampled_from(BAD_CELLS))
    header = list(records[0])
    lines = [",".join(header)]
    for index, record in enumerate(records):
        values = [str(record[name]) for name in header]
        if index == row:
            values[header.index(column)] = f'"{cell}"' if "," in cell else cell
        lines.append(",".join(values))
    path = tmp_path / "candles.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_refused_naming_file(path)


NOT_A_NUMBER = st.none() | st.booleans() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


@PROPERTY_SETTINGS
@given(rows=valid_rows(), data=st.data())
def test_candle_json_file_non_number_cell_is_refused_naming_the_file(
    tmp_path: Path, rows: Rows, data: st.DataObject
) -> None:
    records = upbit_records(rows)
    row = data.draw(st.integers(0, len(records) - 1))
    key = data.draw(st.sampled_from(["opening_price", "high_price", "low_price", "trade_price"]))
    records[row][key] = data.draw(NOT_A_NUMBER)
    path = tmp_path / "candles.json"
    write_json(path, records)
    assert_refused_naming_file(path)


@pytest.mark.parametrize("key", ["low_price", "candle_acc_trade_volume"])
def test_candle_json_file_boolean_where_a_number_belongs_is_refused(tmp_path: Path, key: str) -> None:
    # Arrow would read `true` as 1.0: a low of 1 KRW or a volume of 1 would pass every other check.
    records = upbit_records(Rows([START_NS], {name: [100.0] for name in NAMES}))
    records[0][key] = True
    path = tmp_path / "candles.json"
    write_json(path, records)
    message = str(assert_refused_naming_file(path))
    assert message == f"candles.json: column {key} row 1: true is not a number"


@PROPERTY_SETTINGS
@given(rows=corrupted_rows())
def test_exchange_candle_response_with_bad_values_is_refused(rows: Rows) -> None:
    refused = 0
    # Through the client's own decoder: numbers become Decimal, NaN and Infinity floats.
    for record in as_list(decode_json(json.dumps(upbit_records(rows)), "candles"), "candles"):
        try:
            parse_candle(Fields(record, "GET /v1/candles/minutes/1[0]"))
        except UpbitResponseError:
            refused += 1
    kind_is_order = len(set(rows.start_ns)) < len(rows.start_ns) or rows.start_ns != sorted(rows.start_ns)
    # One candle is a single object: order and duplicates are the client's paging checks.
    assert refused == 1 or kind_is_order


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trade_price", "1e400"),
        ("high_price", -1),
        ("low_price", 0),
        ("opening_price", "NaN"),
        ("candle_acc_trade_volume", "-0.5"),
        ("low_price", 200),
    ],
)
def test_exchange_candle_response_impossible_values_raise_typed_error(key: str, value: object) -> None:
    record = upbit_records(Rows([START_NS], {name: [100.0] for name in NAMES}))[0]
    record[key] = value
    document = decode_json(json.dumps(record).replace('"1e400"', "1e400"), "candle")
    with pytest.raises(UpbitResponseError):
        parse_candle(Fields(document, "GET /v1/candles/minutes/1[0]"))
