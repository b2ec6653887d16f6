"""Loading and saving candle files in the pyupbit, Upbit REST and old crix layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradebot.core.errors import CandleDataError
from tradebot.core.models import CandleSeries
from tradebot.marketdata.candle_files import LoadedCandles, load_candles
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

# 2024-01-01T00:00:00Z and the following minutes, as epoch nanoseconds.
NEW_YEAR_UTC_NS = 1_704_067_200_000_000_000
MINUTE_NS = 60_000_000_000

PYUPBIT_CSV = """\
,open,high,low,close,volume,value
2024-01-01 09:00:00,1000.0,1010.0,990.0,1005.0,2.5,2512.5
2024-01-01 09:01:00,1005.0,1020.0,1000.0,1015.0,1.25,1268.75
2024-01-01 09:02:00,1015.0,1015.0,1001.0,1002.0,0.5,501.0
"""

UPBIT_RECORDS = [
    {
        "market": "KRW-XRP",
        "candle_date_time_utc": f"2020-02-20T08:0{minute}:00",
        "candle_date_time_kst": f"2020-02-20T17:0{minute}:00",
        "opening_price": 300.0 + minute,
        "high_price": 310.0 + minute,
        "low_price": 295.0 + minute,
        "trade_price": 305.0 + minute,
        "timestamp": 1582185600000 + minute * 60_000,
        "candle_acc_trade_price": 1000.0,
        "candle_acc_trade_volume": 3.0 + minute,
        "unit": 1,
    }
    for minute in (2, 1, 0)  # the API answers newest first
]
# 2020-02-20T08:00:00Z as epoch nanoseconds.
UPBIT_FIRST_NS = 1_582_185_600_000_000_000

LEGACY_CSV = """\
candleDateTimeKst,candleAccTradePrice,candleAccTradeVolume,candleDateTime,code,highPrice,lowPrice,openingPrice,timestamp,tradePrice,unit
2018-01-29T21:46:00+09:00,5000.0,2.0,2018-01-29T12:46:00+00:00,CRIX.UPBIT.KRW-BTC,12778000.0,12768000.0,12769000.0,1517230020106,12776000.0,1
2018-01-29T21:45:00+09:00,7000.0,3.0,2018-01-29T12:45:00+00:00,CRIX.UPBIT.KRW-BTC,12789000.0,12767000.0,12783000.0,1517229960178,12768000.0,1
"""
# 2018-01-29T12:45:00Z as epoch nanoseconds.
LEGACY_FIRST_NS = 1_517_229_900_000_000_000


def write_text(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def newest_first_csv(text: str) -> str:
    header, *rows = text.strip().splitlines()
    return "\n".join([header, *reversed(rows)]) + "\n"


def assert_same_series(actual: CandleSeries, expected: CandleSeries) -> None:
    for field in ("start_ns", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(actual, field), getattr(expected, field), strict=True)


def load_error(path: Path) -> str:
    with pytest.raises(CandleDataError) as caught:
        load_candles(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path.name}: ")
    return message


def test_load_candles_pyupbit_csv_converts_kst_to_utc(tmp_path: Path) -> None:
    loaded = load_candles(write_text(tmp_path, "prices.csv", PYUPBIT_CSV))

    assert loaded.layout == "pyupbit"
    assert loaded.reversed_input is False
    assert loaded.market is None
    assert loaded.series.start_ns.tolist() == [NEW_YEAR_UTC_NS + i * MINUTE_NS for i in range(3)]
    assert loaded.series.open.tolist() == [1000.0, 1005.0, 1015.0]
    assert loaded.series.high.tolist() == [1010.0, 1020.0, 1015.0]
    assert loaded.series.low.tolist() == [990.0, 1000.0, 1001.0]
    assert loaded.series.close.tolist() == [1005.0, 1015.0, 1002.0]
    assert loaded.series.volume.tolist() == [2.5, 1.25, 0.5]


@pytest.mark.parametrize("time_header", ["datetime_kst", "index", "date", "datetime"])
def test_load_candles_pyupbit_named_time_column_reads_kst(tmp_path: Path, time_header: str) -> None:
    path = write_text(tmp_path, "prices.csv", time_header + PYUPBIT_CSV)

    assert load_candles(path).series.start_ns[0] == NEW_YEAR_UTC_NS


def test_load_candles_pyupbit_newest_first_reverses(tmp_path: Path) -> None:
    ascending = load_candles(write_text(tmp_path, "up.csv", PYUPBIT_CSV))
    loaded = load_candles(write_text(tmp_path, "down.csv", newest_first_csv(PYUPBIT_CSV)))

    assert loaded.reversed_input is True
    assert_same_series(loaded.series, ascending.series)


def test_load_candles_pyupbit_parquet_index_converts_kst(tmp_path: Path) -> None:
    frame = pd.read_csv(write_text(tmp_path, "source.csv", PYUPBIT_CSV), index_col=0, parse_dates=True)
    path = tmp_path / "KRW-SOL_1m.parquet"
    frame.to_parquet(path)

    loaded = load_candles(path)

    assert loaded.layout == "pyupbit"
    assert loaded.market == "KRW-SOL"
    assert loaded.series.start_ns.tolist() == [NEW_YEAR_UTC_NS + i * MINUTE_NS for i in range(3)]
    assert loaded.series.close.tolist() == [1005.0, 1015.0, 1002.0]


def test_load_candles_upbit_json_newest_first_reverses(tmp_path: Path) -> None:
    loaded = load_candles(write_text(tmp_path, "candles.json", json.dumps(UPBIT_RECORDS)))

    assert loaded.layout == "upbit"
    assert loaded.reversed_input is True
    assert loaded.market == "KRW-XRP"
    assert loaded.series.start_ns.tolist() == [UPBIT_FIRST_NS + i * MINUTE_NS for i in range(3)]
    assert loaded.series.open.tolist() == [300.0, 301.0, 302.0]
    assert loaded.series.close.tolist() == [305.0, 306.0, 307.0]
    assert loaded.series.volume.tolist() == [3.0, 4.0, 5.0]


def test_load_candles_upbit_json_string_numbers_parse(tmp_path: Path) -> None:
    records = [
        {key: str(value) if isinstance(value, float) else value for key, value in record.items()}
        for record in UPBIT_RECORDS
    ]
    loaded = load_candles(write_text(tmp_path, "candles.json", json.dumps(records)))

    assert loaded.series.high.tolist() == [310.0, 311.0, 312.0]


def test_load_candles_upbit_csv_ascending_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    pd.DataFrame(UPBIT_RECORDS[::-1]).to_csv(path, index=False)

    loaded = load_candles(path)

    assert loaded.layout == "upbit"
    assert loaded.reversed_input is False
    assert loaded.series.start_ns.tolist() == [UPBIT_FIRST_NS + i * MINUTE_NS for i in range(3)]


def test_load_candles_upbit_legacy_newest_first_reverses(tmp_path: Path) -> None:
    loaded = load_candles(write_text(tmp_path, "BTC.csv", LEGACY_CSV))

    assert loaded.layout == "upbit_legacy"
    assert loaded.reversed_input is True
    assert loaded.market == "KRW-BTC"
    assert loaded.series.start_ns.tolist() == [LEGACY_FIRST_NS, LEGACY_FIRST_NS + MINUTE_NS]
    assert loaded.series.open.tolist() == [12783000.0, 12769000.0]
    assert loaded.series.close.tolist() == [12768000.0, 12776000.0]
    assert loaded.series.volume.tolist() == [3.0, 2.0]


def test_load_candles_legacy_kst_offset_converts_to_utc(tmp_path: Path) -> None:
    text = LEGACY_CSV.replace("T12:46:00+00:00", "T21:46:00+09:00").replace(
        "T12:45:00+00:00", "T21:45:00+09:00"
    )

    loaded = load_candles(write_text(tmp_path, "BTC.csv", text))

    assert loaded.series.start_ns.tolist() == [LEGACY_FIRST_NS, LEGACY_FIRST_NS + MINUTE_NS]


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("KRW-ETH_15m_2024.csv", "KRW-ETH"),
        ("krw-doge.csv", "KRW-DOGE"),
        ("backtest_KRW-BTC.csv", "KRW-BTC"),
        ("prices.csv", None),
    ],
)
def test_load_candles_file_name_gives_market(tmp_path: Path, file_name: str, expected: str | None) -> None:
    assert load_candles(write_text(tmp_path, file_name, PYUPBIT_CSV)).market == expected


def test_load_candles_market_column_beats_file_name(tmp_path: Path) -> None:
    path = write_text(tmp_path, "KRW-ETH.json", json.dumps(UPBIT_RECORDS))

    assert load_candles(path).market == "KRW-XRP"


def test_load_candles_two_markets_raises(tmp_path: Path) -> None:
    records = [dict(UPBIT_RECORDS[0], market="KRW-BTC"), *UPBIT_RECORDS[1:]]
    path = write_text(tmp_path, "candles.json", json.dumps(records))

    assert "mixes several markets: KRW-BTC, KRW-XRP" in load_error(path)


def round_trip_series() -> CandleSeries:
    series = generate_candles(300, seed=11, gap_probability=0.2)
    # Doubles with long expansions must survive text formats bit for bit.
    volume = np.random.default_rng(3).uniform(1e-8, 1e6, size=len(series))
    volume[:4] = [1e-8, 0.1 + 0.2, 123456789.12345679, 5e-324]
    return CandleSeries.checked(series.start_ns, series.open, series.high, series.low, series.close, volume)


@pytest.mark.parametrize(
    ("layout", "suffix"),
    [
        ("pyupbit", ".csv"),
        ("pyupbit", ".parquet"),
        ("upbit", ".csv"),
        ("upbit", ".json"),
        ("upbit", ".parquet"),
    ],
)
def test_save_candles_then_load_round_trips_exactly(tmp_path: Path, layout: str, suffix: str) -> None:
    series = round_trip_series()
    path = tmp_path / f"KRW-BTC_1m{suffix}"

    save_candles(series, path, layout=layout, market="KRW-BTC")
    loaded = load_candles(path)

    assert loaded == LoadedCandles(loaded.series, "KRW-BTC", layout, layout == "upbit")
    assert_same_series(loaded.series, series)


def test_save_candles_pyupbit_csv_writes_kst_and_value(tmp_path: Path) -> None:
    source = load_candles(write_text(tmp_path, "source.csv", PYUPBIT_CSV)).series
    path = tmp_path / "out.csv"

    save_candles(source, path)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('"2024-01-01 09:00:00",1000,1010,990,1005,2.5,2512.5')


def test_save_candles_upbit_json_writes_api_records_newest_first(tmp_path: Path) -> None:
    source = load_candles(write_text(tmp_path, "source.csv", PYUPBIT_CSV)).series
    path = tmp_path / "out.json"

    save_candles(source, path, layout="upbit", market="KRW-BTC")

    first = json.loads(path.read_text(encoding="utf-8"))[0]
    assert first == {
        "market": "KRW-BTC",
        "candle_date_time_utc": "2024-01-01T00:02:00",
        "candle_date_time_kst": "2024-01-01T09:02:00",
        "opening_price": 1015.0,
        "high_price": 1015.0,
        "low_price": 1001.0,
        "trade_price": 1002.0,
        "candle_acc_trade_volume": 0.5,
        "candle_acc_trade_price": 501.0,
    }


def test_save_candles_upbit_without_market_loads_none(tmp_path: Path) -> None:
    path = tmp_path / "candles.json"

    save_candles(generate_candles(5), path, layout="upbit")

    assert load_candles(path).market is None


@pytest.mark.parametrize(
    ("name", "layout"),
    [("out.json", "pyupbit"), ("out.txt", "upbit"), ("out.csv", "upbit_legacy")],
)
def test_save_candles_unsupported_target_raises(tmp_path: Path, name: str, layout: str) -> None:
    with pytest.raises(CandleDataError, match=rf"^{name}: cannot save layout '{layout}'"):
        save_candles(generate_candles(5), tmp_path / name, layout=layout)


def test_save_candles_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match=r"^out\.csv: cannot write: "):
        save_candles(generate_candles(5), tmp_path / "absent" / "out.csv")


def test_load_candles_missing_file_raises(tmp_path: Path) -> None:
    assert load_error(tmp_path / "absent.csv") == "absent.csv: file not found"


def test_load_candles_directory_raises(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()

    assert load_error(tmp_path / "data.csv") == "data.csv: is a directory, not a candle file"


def test_load_candles_unknown_suffix_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.txt", PYUPBIT_CSV)

    assert "unsupported file type '.txt' (expected .csv, .parquet or .json)" in load_error(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.json", "empty.parquet"])
def test_load_candles_empty_file_raises(tmp_path: Path, name: str) -> None:
    assert load_error(write_text(tmp_path, name, "")) == f"{name}: file is empty"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("short_row.csv", PYUPBIT_CSV + "2024-01-01 09:03:00,1.0\n", "not a readable CSV file: "),
        ("blank.csv", "\n\n", "no header row"),
        ("broken.json", '[{"market": ', "not a readable JSON file: "),
        ("object.json", '{"candles": []}', "expected a non-empty JSON array of candles"),
        ("no_rows.json", "[]", "expected a non-empty JSON array of candles"),
        ("numbers.json", "[1, 2]", "expected a JSON array of candle objects"),
        ("broken.parquet", "PAR1 this is not parquet", "not a readable parquet file: "),
    ],
)
def test_load_candles_malformed_file_raises(tmp_path: Path, name: str, content: str, expected: str) -> None:
    assert expected in load_error(write_text(tmp_path, name, content))


def test_load_candles_not_utf8_csv_raises(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81 not text")

    assert "not a readable CSV file: " in load_error(path)


def test_load_candles_upbit_error_response_raises(tmp_path: Path) -> None:
    body = {"error": {"name": "too_many_requests", "message": "slow down"}}
    path = write_text(tmp_path, "candles.json", json.dumps(body))

    assert "an Upbit error response, not candles: " in load_error(path)
    assert "too_many_requests" in load_error(path)


def test_load_candles_missing_columns_names_them(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", ",open,high,low\n2024-01-01 09:00:00,1,2,1\n")

    assert load_error(path).startswith(
        "prices.csv: missing columns close, volume (expected pyupbit layout: open, high, low, close, "
        "volume, or Upbit layout: candle_date_time_utc, opening_price,"
    )


def test_load_candles_unknown_columns_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", "when,price\n2024-01-01,1\n")

    assert "no known candle columns (found 'when', 'price'; expected pyupbit layout" in load_error(path)


def test_load_candles_repeated_column_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.replace("close,", "close,close,"))

    assert load_error(path) == "prices.csv: column close appears more than once"


def test_load_candles_missing_time_column_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", "open,high,low,close,volume\n1,2,1,2,3\n")

    assert "no time column" in load_error(path)


def test_load_candles_legacy_missing_column_names_layout(tmp_path: Path) -> None:
    path = write_text(tmp_path, "BTC.csv", LEGACY_CSV.replace("tradePrice", "lastPrice"))

    assert "missing columns tradePrice (expected old Upbit crix layout" in load_error(path)


def test_load_candles_bad_timestamp_names_row(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.replace("2024-01-01 09:01:00", "yesterday"))

    assert "the unnamed first column row 2: 'yesterday' is not a time like 2024-01-01" in load_error(path)


def test_load_candles_mixed_zone_timestamps_raise(tmp_path: Path) -> None:
    path = write_text(tmp_path, "BTC.csv", LEGACY_CSV.replace("T12:45:00+00:00", "T12:45:00"))

    assert "column candleDateTime row 2: '2018-01-29T12:45:00' is not a time" in load_error(path)


def test_load_candles_empty_timestamp_names_row(tmp_path: Path) -> None:
    records = [dict(UPBIT_RECORDS[0]), dict(UPBIT_RECORDS[1], candle_date_time_utc=None)]
    path = write_text(tmp_path, "candles.json", json.dumps(records))

    assert "column candle_date_time_utc row 2 is empty" in load_error(path)


def test_load_candles_non_numeric_price_names_column_and_row(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.replace("1015.0,1.25", "abc,1.25"))

    assert load_error(path) == "prices.csv: column close row 2: 'abc' is not a number"


@pytest.mark.parametrize(("cell", "what"), [("", "is empty"), ("NaN", "is nan"), ("inf", "is inf")])
def test_load_candles_missing_price_names_column_and_row(tmp_path: Path, cell: str, what: str) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.replace("1001.0", cell))

    assert load_error(path) == f"prices.csv: column low row 3 {what}, not a number"


def test_load_candles_nan_in_json_names_file_column(tmp_path: Path) -> None:
    records = [dict(UPBIT_RECORDS[0], trade_price=float("nan")), *UPBIT_RECORDS[1:]]
    path = write_text(tmp_path, "candles.json", json.dumps(records))

    assert load_error(path) == "candles.json: column trade_price row 1 is nan, not a number"


def test_load_candles_mixed_order_reports_file_row(tmp_path: Path) -> None:
    header, first, second, third = PYUPBIT_CSV.strip().splitlines()
    path = write_text(tmp_path, "prices.csv", "\n".join([header, second, first, third]) + "\n")

    assert "not sorted: row 2 (2024-01-01T00:00:00+00:00) goes back in time" in load_error(path)


def test_load_candles_duplicate_start_raises(tmp_path: Path) -> None:
    header, first, *_ = PYUPBIT_CSV.strip().splitlines()
    path = write_text(tmp_path, "prices.csv", "\n".join([header, first, first]) + "\n")

    assert "duplicate candle start 2024-01-01T00:00:00+00:00 (row 2)" in load_error(path)


def test_load_candles_newest_first_bad_candle_reports_file_row(tmp_path: Path) -> None:
    text = newest_first_csv(PYUPBIT_CSV).replace("1015.0,1015.0,1001.0", "1015.0,1000.0,1001.0")

    message = load_error(write_text(tmp_path, "prices.csv", text))

    assert "row 1 is not a valid candle: high 1000.0 / low 1001.0" in message


def test_load_candles_negative_price_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.replace("990.0", "-990.0"))

    assert "low must be positive; row 1 has -990.0" in load_error(path)


def test_load_candles_header_only_raises(tmp_path: Path) -> None:
    path = write_text(tmp_path, "prices.csv", PYUPBIT_CSV.splitlines()[0] + "\n")

    assert load_error(path) == "prices.csv: no candles in the data"
