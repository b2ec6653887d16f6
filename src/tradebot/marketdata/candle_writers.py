"""Write candle series as files that `candle_files.load_candles` reads back exactly.

pyupbit layout (.csv, .parquet: naive KST starts, oldest first) and the Upbit REST layout (.csv,
.json, .parquet: the API's keys, newest first), for tests, benchmarks and `tradebot generate-candles`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tradebot.core.errors import CandleDataError
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, FloatArray, IntArray
from tradebot.marketdata.candle_columns import KST_OFFSET_NS, one_line


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
        raise CandleDataError(f"{path.name}: cannot write: {one_line(str(error))}") from error


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
