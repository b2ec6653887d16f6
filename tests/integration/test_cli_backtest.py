"""`tradebot backtest`, `generate-candles` and `demo-backtest` end to end through `tradebot.cli.main`.

Candles are generated with `tradebot.marketdata.synthetic` (seeded) or written by hand, so the
tests need no network and no real data. Most tests call `main` in-process; one runs the real
console entry (`python -m tradebot`) in a subprocess.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradebot.cli import main
from tradebot.core.models import CandleSeries, Interval, isoformat_utc
from tradebot.core.params import BUY_CONDITION_KEYS, SELL_CONDITION_KEYS, Conditions, StrategyParams
from tradebot.marketdata.candle_files import load_candles
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

SEED = 11
CANDLES = 3_000
INTERVAL = Interval.MINUTE15
MARKET = "KRW-BTC"
ERROR_PREFIX = "tradebot: error:"
USAGE_ERROR = 2

SUMMARY_NUMBERS = ("final_equity", "return", "max_drawdown", "fees", "buy_and_hold_return", "initial_cash")
TRADE_KEYS = {
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "volume",
    "fee",
    "profit",
    "exit_reason",
}

# Three 1-minute candles in pyupbit's layout (naive KST index); tests break one thing at a time.
CSV_HEADER = ",open,high,low,close,volume,value\n"
GOOD_ROWS = (
    "2024-01-01 09:00:00,1000.0,1010.0,990.0,1005.0,2.5,2512.5\n",
    "2024-01-01 09:01:00,1005.0,1020.0,1000.0,1015.0,1.25,1268.75\n",
    "2024-01-01 09:02:00,1015.0,1015.0,1001.0,1002.0,0.5,501.0\n",
)

CliResult = tuple[int, str, str]


# ----------------------------------------------------------------------------- helpers


def run_cli(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> CliResult:
    """Run `tradebot ARGUMENTS` in-process: (exit status, stdout, stderr)."""
    try:
        status = main([str(argument) for argument in arguments])
    except SystemExit as stop:  # argparse usage errors leave through SystemExit
        status = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *arguments: str | Path) -> dict[str, Any]:
    """Run `tradebot backtest ARGUMENTS --json`, check it succeeded quietly, parse stdout."""
    status, out, err = run_cli(capsys, "backtest", *arguments, "--json")
    assert status == 0, err
    assert err == ""
    document: dict[str, Any] = json.loads(out)
    return document


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Exit status 2, nothing on stdout, one `tradebot: error:` line on stderr naming `fragments`."""
    status, out, err = result
    assert status == USAGE_ERROR, err
    assert out == ""
    assert err.endswith("\n")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR_PREFIX)
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


def make_series(
    count: int = CANDLES, interval: Interval = INTERVAL, seed: int = SEED, gap_probability: float = 0.0
) -> CandleSeries:
    return generate_candles(count, interval=interval, seed=seed, gap_probability=gap_probability)


def write_series(
    series: CandleSeries, path: Path, layout: str = "pyupbit", market: str | None = MARKET
) -> Path:
    save_candles(series, path, layout=layout, market=market)
    return path


def write_params(directory: Path, name: str = "params.json", **changes: Any) -> Path:
    """A complete params file for the default data (minute15, KRW-BTC) with `changes` applied."""
    values = StrategyParams(interval=INTERVAL, market=MARKET).model_dump(mode="json")
    values.update(changes)
    path = directory / name
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def write_conditions(
    directory: Path, buy: dict[str, bool] | None = None, sell: dict[str, bool] | None = None
) -> Path:
    """A complete conditions file: the defaults with the given switches changed."""
    values = Conditions().model_dump(mode="json")
    values["buy"].update(buy or {})
    values["sell"].update(sell or {})
    path = directory / "conditions.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def only(keys: tuple[str, ...], *enabled: str) -> dict[str, bool]:
    return {key: key in enabled for key in keys}


def parse_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    assert moment.utcoffset() == timedelta(0), text
    return moment


@pytest.fixture(scope="module")
def series() -> CandleSeries:
    return make_series()


@pytest.fixture
def data_file(tmp_path: Path, series: CandleSeries) -> Path:
    return write_series(series, tmp_path / f"{MARKET}_{INTERVAL.value}.csv")


# ----------------------------------------------------------------------------- --json document


def test_backtest_json_document_shape_has_summary_and_trade_keys(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    document = run_json(capsys, "--data", data_file, "--out", tmp_path / "out")

    assert set(document) == {"summary", "trades"}
    summary, trades = document["summary"], document["trades"]
    for key in SUMMARY_NUMBERS:
        assert isinstance(summary[key], float), key
    assert isinstance(summary["trades"], int)
    assert summary["win_rate"] is None or 0.0 <= summary["win_rate"] <= 1.0
    assert 0.0 <= summary["max_drawdown"] < 1.0
    assert summary["initial_cash"] == 1_000_000.0
    assert summary["trades"] == len(trades) > 0
    for trade in trades:
        assert set(trade) >= TRADE_KEYS
        for key in ("entry_price", "volume", "fee"):
            assert isinstance(trade[key], float), key
            assert trade[key] > 0, key


def test_backtest_json_times_are_utc_candle_starts_from_the_input(
    capsys: pytest.CaptureFixture[str], data_file: Path, series: CandleSeries, tmp_path: Path
) -> None:
    document = run_json(capsys, "--data", data_file, "--out", tmp_path / "out")

    starts = {isoformat_utc(int(nanos)) for nanos in series.start_ns}
    previous_exit = parse_utc(document["summary"]["first_decision_candle"])
    for trade in document["trades"]:
        entry = parse_utc(trade["entry_time"])
        assert trade["entry_time"] in starts
        assert entry >= previous_exit  # at most one trade per candle: never re-enter on the exit candle
        if trade["exit_time"] is not None:
            assert trade["exit_time"] in starts
            assert parse_utc(trade["exit_time"]) > entry
            previous_exit = parse_utc(trade["exit_time"]) + INTERVAL.duration


def test_backtest_json_exit_reasons_are_sell_keys_or_null_for_the_last_open_trade(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    document = run_json(capsys, "--data", data_file, "--out", tmp_path / "out")

    *closed, last = document["trades"]
    for trade in closed:
        assert trade["exit_reason"] in SELL_CONDITION_KEYS
        assert trade["exit_time"] is not None
        assert isinstance(trade["profit"], float)
    if last["exit_time"] is None:
        assert last["exit_reason"] is None
        assert last["exit_price"] is None
        assert last["profit"] is None
    else:
        assert last["exit_reason"] in SELL_CONDITION_KEYS
    summary = document["summary"]
    assert summary["closed_trades"] == len(closed) + (last["exit_time"] is not None)
    assert sum(summary["exit_reasons"].values()) == summary["closed_trades"]


def test_backtest_position_never_sold_reports_one_open_trade_with_null_exit(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    # A 90% stop never fires on this file; at 99% the entry would be refused as below_min_exit
    # (half of 1,000,000 KRW worth 1% at its stop is not over Upbit's 5,000 KRW minimum).
    params = write_params(tmp_path, stop_loss=0.9)
    conditions = write_conditions(tmp_path, sell=only(SELL_CONDITION_KEYS, "stop_loss"))

    document = run_json(
        capsys, "--data", data_file, "--params", params, "--conditions", conditions, "--out", tmp_path / "o"
    )

    [trade] = document["trades"]
    assert trade["exit_time"] is None
    assert trade["exit_reason"] is None
    assert document["summary"]["trades"] == 1
    assert document["summary"]["closed_trades"] == 0
    assert document["summary"]["win_rate"] is None
    assert document["summary"]["open_position_volume"] == trade["volume"]


# ----------------------------------------------------------------------------- files and options


def test_backtest_out_directory_gets_summary_trades_and_chart_files(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nested" / "out"

    document = run_json(capsys, "--data", data_file, "--out", out)

    assert json.loads((out / "summary.json").read_text(encoding="utf-8")) == document["summary"]
    assert json.loads((out / "trades.json").read_text(encoding="utf-8")) == document["trades"]
    with (out / "trades.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(document["trades"])
    assert set(rows[0]) >= TRADE_KEYS
    assert [row["entry_time"] for row in rows] == [trade["entry_time"] for trade in document["trades"]]
    chart = (out / "chart.html").read_text(encoding="utf-8")
    assert "<svg" in chart.lower()


def test_backtest_no_chart_option_skips_chart_file(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    run_json(capsys, "--data", data_file, "--out", out, "--no-chart")

    assert (out / "summary.json").exists()
    assert not (out / "chart.html").exists()


def test_backtest_without_json_prints_text_summary_only(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    status, out, err = run_cli(capsys, "backtest", "--data", data_file, "--out", tmp_path / "out")

    assert status == 0
    assert err == ""  # no progress bar when stderr is not a terminal
    assert "final equity" in out
    assert "win rate" in out
    assert not out.lstrip().startswith("{")


def test_backtest_on_a_terminal_long_run_draws_progress_bar(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = write_series(make_series(100_000, Interval.MINUTE1), tmp_path / "long.parquet")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)

    status, out, err = run_cli(capsys, "backtest", "--data", data, "--out", tmp_path / "out", "--no-chart")

    assert status == 0
    assert "final equity" in out
    assert "replaying" in err
    assert err.endswith("\r")  # the bar's line is cleared at the end


def test_backtest_cash_option_sets_initial_cash_and_changes_final_equity(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    default = run_json(capsys, "--data", data_file, "--out", tmp_path / "a")["summary"]
    richer = run_json(capsys, "--data", data_file, "--out", tmp_path / "b", "--cash", "3,000,000")["summary"]

    assert default["initial_cash"] == 1_000_000.0
    assert richer["initial_cash"] == 3_000_000.0
    assert richer["final_equity"] != default["final_equity"]
    assert richer["trades"] == default["trades"]  # same signals, three times the order size
    assert richer["fees"] == pytest.approx(3 * default["fees"], rel=1e-3)


def test_backtest_params_and_conditions_files_are_applied(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    params = write_params(tmp_path, stop_loss=0.004, slippage_bps=0.0)
    conditions = write_conditions(tmp_path, sell=only(SELL_CONDITION_KEYS, "stop_loss"))

    document = run_json(
        capsys, "--data", data_file, "--params", params, "--conditions", conditions, "--out", tmp_path / "o"
    )

    summary = document["summary"]
    assert summary["params"]["stop_loss"] == 0.004
    assert summary["conditions"]["sell"] == only(SELL_CONDITION_KEYS, "stop_loss")
    assert summary["closed_trades"] > 1
    assert set(summary["exit_reasons"]) == {"stop_loss"}
    assert {trade["exit_reason"] for trade in document["trades"]} <= {"stop_loss", None}
    for trade in document["trades"]:
        if trade["exit_price"] is not None:
            assert trade["exit_price"] <= trade["entry_price"] * (1 - 0.004)


def test_backtest_params_interval_not_matching_data_exits_with_error(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    params = write_params(tmp_path, interval="minute1")

    result = run_cli(capsys, "backtest", "--data", data_file, "--params", params, "--out", tmp_path / "o")

    assert_one_line_error(result, "interval", "minute1", "minute15")


def test_backtest_params_market_not_matching_data_exits_with_error(
    capsys: pytest.CaptureFixture[str], series: CandleSeries, tmp_path: Path
) -> None:
    data = write_series(series, tmp_path / "candles.json", layout="upbit", market=MARKET)
    params = write_params(tmp_path, market="KRW-ETH")

    result = run_cli(capsys, "backtest", "--data", data, "--params", params, "--out", tmp_path / "o")

    assert_one_line_error(result, "market", "KRW-ETH", MARKET)


# ----------------------------------------------------------------------------- bad input

ArgumentsBuilder = Callable[[Path], list[str | Path]]


def _data_args(path: Path, *extra: str | Path) -> list[str | Path]:
    return ["backtest", "--data", path, "--out", path.parent / "out", *extra]


def _csv_args(directory: Path, rows: tuple[str, ...]) -> list[str | Path]:
    return _data_args(write_text(directory / "candles.csv", CSV_HEADER + "".join(rows)))


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _good_data(directory: Path) -> Path:
    return write_series(make_series(), directory / "candles.csv")


def _with_params(directory: Path, text: str) -> list[str | Path]:
    return _data_args(_good_data(directory), "--params", write_text(directory / "params.json", text))


def _params_text(**changes: Any) -> str:
    values = StrategyParams(interval=INTERVAL).model_dump(mode="json")
    values.update(changes)
    return json.dumps({key: value for key, value in values.items() if value is not None})


def _no_buy_condition(directory: Path) -> list[str | Path]:
    conditions = write_conditions(directory, buy=dict.fromkeys(BUY_CONDITION_KEYS, False))
    return _data_args(_good_data(directory), "--conditions", conditions)


BAD_INPUTS: dict[str, tuple[ArgumentsBuilder, tuple[str, ...]]] = {
    "missing_file": (lambda d: _data_args(d / "absent.csv"), ("absent.csv", "not found")),
    "directory": (lambda d: _data_args(_directory(d / "candles.csv")), ("candles.csv", "directory")),
    "unsupported_suffix": (lambda d: _data_args(write_text(d / "c.txt", "x")), ("unsupported",)),
    "empty_file": (lambda d: _data_args(write_text(d / "c.csv", "")), ("empty",)),
    "unknown_columns": (
        lambda d: _data_args(write_text(d / "c.csv", "when,a,b\n2024-01-01,1,2\n")),
        ("no known candle columns",),
    ),
    "unsorted_timestamps": (
        lambda d: _csv_args(d, (GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1])),
        ("not sorted",),
    ),
    "duplicate_timestamps": (
        lambda d: _csv_args(d, (GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[1])),
        ("duplicate",),
    ),
    "nan_price": (
        lambda d: _csv_args(d, (GOOD_ROWS[0], GOOD_ROWS[1].replace("1015.0,1.25", "NaN,1.25"))),
        ("close", "nan"),
    ),
    "negative_price": (
        lambda d: _csv_args(d, (GOOD_ROWS[0], GOOD_ROWS[1].replace(",1000.0,", ",-1000.0,"))),
        ("low", "positive"),
    ),
    "text_price": (
        lambda d: _csv_args(d, (GOOD_ROWS[0], GOOD_ROWS[1].replace("1015.0,1.25", "abc,1.25"))),
        ("close", "abc"),
    ),
    "upbit_error_response": (
        lambda d: _data_args(write_text(d / "c.json", '{"error": {"name": "x", "message": "y"}}')),
        ("error response",),
    ),
    "params_fast_not_below_slow": (
        lambda d: _with_params(d, _params_text(fast_period=26)),
        ("slow_period", "fast_period"),
    ),
    "params_unknown_key": (lambda d: _with_params(d, _params_text(colour="red")), ("colour", "unknown")),
    "params_missing_key": (lambda d: _with_params(d, _params_text(slippage_bps=None)), ("slippage_bps",)),
    "params_malformed_json": (lambda d: _with_params(d, '{"market": "KRW-BTC",'), ("not valid json",)),
    "params_missing_file": (
        lambda d: _data_args(_good_data(d), "--params", d / "absent.json"),
        ("absent.json", "not found"),
    ),
    "conditions_no_buy_enabled": (_no_buy_condition, ("buy condition",)),
    "too_few_candles_for_warmup": (
        lambda d: _data_args(write_series(make_series(150), d / "short.csv")),
        ("150 candles", "warm"),
    ),
    "cash_not_a_number": (lambda d: _data_args(_good_data(d), "--cash", "lots"), ("--cash",)),
    "cash_zero": (lambda d: _data_args(_good_data(d), "--cash", "0"), ("--cash", "positive")),
    "cash_negative": (lambda d: _data_args(_good_data(d), "--cash=-5"), ("--cash", "positive")),
    "cash_nan": (lambda d: _data_args(_good_data(d), "--cash", "nan"), ("--cash",)),
    "data_option_missing": (lambda d: ["backtest", "--out", d / "out"], ("--data",)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_backtest_bad_input_exits_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    build, fragments = BAD_INPUTS[case]

    result = run_cli(capsys, *build(tmp_path))

    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_backtest_data_with_non_krw_market_exits_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], series: CandleSeries, tmp_path: Path
) -> None:
    data = write_series(series, tmp_path / "candles.json", layout="upbit", market="BTC-ETH")

    result = run_cli(capsys, "backtest", "--data", data, "--out", tmp_path / "out")

    assert_one_line_error(result, "BTC-ETH")


def test_backtest_cash_too_large_for_a_float_exits_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], data_file: Path, tmp_path: Path
) -> None:
    result = run_cli(capsys, "backtest", "--data", data_file, "--out", tmp_path / "out", "--cash", "1e400")

    assert_one_line_error(result, "--cash")


# ----------------------------------------------------------------------------- gaps and layouts


def test_backtest_series_with_gaps_reports_them_without_filling(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    gapped = make_series(CANDLES, Interval.MINUTE1, gap_probability=0.02)
    data = write_series(gapped, tmp_path / "gapped.csv")
    step = Interval.MINUTE1.seconds * 1_000_000_000
    expected_holes = int(np.count_nonzero(np.diff(gapped.start_ns) > step))
    slots = int((gapped.start_ns[-1] - gapped.start_ns[0]) // step) + 1

    summary = run_json(capsys, "--data", data, "--out", tmp_path / "out")["summary"]

    assert summary["interval"] == "minute1"
    assert summary["candles"] == len(gapped)  # nothing invented
    assert summary["gaps"]["count"] == expected_holes > 0
    assert summary["gaps"]["missing_candles"] == slots - len(gapped)
    for gap in summary["gaps"]["first"]:
        assert parse_utc(gap["before"]) > parse_utc(gap["after"])
        assert gap["missing"] >= 1


LAYOUT_FILES = (
    ("pyupbit", "KRW-BTC_minute15.csv"),
    ("pyupbit", "KRW-BTC_minute15.parquet"),
    ("upbit", "upbit_candles.json"),
    ("upbit", "upbit_candles.csv"),
)


def test_backtest_same_candles_in_every_layout_give_identical_trades(
    capsys: pytest.CaptureFixture[str], series: CandleSeries, tmp_path: Path
) -> None:
    documents = {}
    for layout, name in LAYOUT_FILES:
        data = write_series(series, tmp_path / name, layout=layout, market=MARKET)
        documents[name] = run_json(capsys, "--data", data, "--out", tmp_path / f"out_{name}")

    reference = documents["KRW-BTC_minute15.csv"]
    assert reference["summary"]["source"]["layout"] == "pyupbit"
    upbit_json = documents["upbit_candles.json"]["summary"]["source"]
    assert upbit_json == {
        "layout": "upbit",
        "reversed_input": True,
        "data": str(tmp_path / "upbit_candles.json"),
    }
    for name, document in documents.items():
        assert document["trades"] == reference["trades"], name
        strip = {key: value for key, value in document["summary"].items() if key != "source"}
        assert strip == {key: value for key, value in reference["summary"].items() if key != "source"}, name


# ----------------------------------------------------------------------------- --stepwise


STEPWISE_SETTINGS: dict[str, tuple[dict[str, Any], dict[str, bool] | None, dict[str, bool] | None]] = {
    "defaults": ({}, None, None),
    "min_holding_bars_5": ({"min_holding_bars": 5}, None, None),
    "macd_positive_and_golden_cross": (
        {"macd_threshold": 0.0},
        only(BUY_CONDITION_KEYS, "golden_cross", "macd_positive"),
        None,
    ),
    "all_sell_rules": ({"min_holding_bars": 3}, None, dict.fromkeys(SELL_CONDITION_KEYS, True)),
    "slippage_0": ({"slippage_bps": 0.0}, None, None),
    "slippage_30_tight_exits": (
        {"slippage_bps": 30.0, "stop_loss": 0.005, "take_profit": 0.006, "trailing_stop": 0.003},
        None,
        None,
    ),
    "order_ratio_1": ({"order_ratio": 1.0}, only(BUY_CONDITION_KEYS, "macd_trending_up", "above_ma20"), None),
    "small_cash_refusals": ({"order_ratio": 0.2}, None, None),
}


@pytest.mark.parametrize("setting", list(STEPWISE_SETTINGS))
def test_backtest_stepwise_option_gives_identical_document_to_fast_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, setting: str
) -> None:
    params_changes, buy, sell = STEPWISE_SETTINGS[setting]
    data = write_series(make_series(3_000, Interval.MINUTE5, seed=23), tmp_path / "KRW-BTC_minute5.parquet")
    params = write_params(tmp_path, interval="minute5", **params_changes)
    conditions = write_conditions(tmp_path, buy=buy, sell=sell)
    cash = "30000" if setting == "small_cash_refusals" else "1000000"
    common = ("--data", data, "--params", params, "--conditions", conditions, "--cash", cash, "--no-chart")

    fast = run_json(capsys, *common, "--out", tmp_path / "fast")
    stepwise = run_json(capsys, *common, "--out", tmp_path / "stepwise", "--stepwise")

    assert fast["summary"]["trades"] > 0
    assert stepwise == fast


# ----------------------------------------------------------------------------- other subcommands


@pytest.mark.parametrize(
    ("layout", "name"),
    [("pyupbit", "gen.csv"), ("pyupbit", "gen.parquet"), ("upbit", "gen.json"), ("upbit", "gen.csv")],
)
def test_generate_candles_writes_file_that_loads_back_as_the_seeded_series(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, layout: str, name: str
) -> None:
    path = tmp_path / name

    status, out, err = run_cli(
        capsys, "generate-candles", "--out", path, "--count", "500", "--seed", "5", "--layout", layout
    )

    assert (status, err) == (0, "")
    assert "500" in out
    loaded = load_candles(path).series
    expected = generate_candles(500, seed=5)
    for column in ("start_ns", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(loaded, column), getattr(expected, column), err_msg=column)


def test_generate_candles_then_backtest_runs_on_the_written_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "KRW-XRP_minute60.json"
    arguments = ("--out", path, "--count", "1000", "--interval", "minute60", "--market", "KRW-XRP")
    assert run_cli(capsys, "generate-candles", *arguments, "--layout", "upbit")[0] == 0

    summary = run_json(capsys, "--data", path, "--out", tmp_path / "out")["summary"]

    assert (summary["market"], summary["interval"], summary["candles"]) == ("KRW-XRP", "minute60", 1000)


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [(("--count", "0"), "count"), (("--gap-probability", "1.5"), "gap_probability")],
)
def test_generate_candles_bad_argument_exits_2_with_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, arguments: tuple[str, ...], fragment: str
) -> None:
    result = run_cli(capsys, "generate-candles", "--out", tmp_path / "gen.csv", *arguments)

    assert_one_line_error(result, fragment)
    assert not (tmp_path / "gen.csv").exists()


def test_demo_runs_and_prints_summary_into_working_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)

    status, out, err = run_cli(capsys, "demo-backtest")

    assert (status, err) == (0, "")
    assert "Demo:" in out
    assert "final equity" in out
    assert "KRW-ETH minute15" in out
    out_directory = tmp_path / "backtest_results" / "demo"
    for name in ("summary.json", "trades.json", "trades.csv", "chart.html"):
        assert (out_directory / name).is_file(), name
    summary = json.loads((out_directory / "summary.json").read_text(encoding="utf-8"))
    assert summary["candles"] == 20_000


# ----------------------------------------------------------------------------- real console entry


def test_console_entry_runs_backtest_and_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    data = write_series(make_series(), tmp_path / "KRW-BTC_minute15.parquet")
    command = [sys.executable, "-m", "tradebot", "backtest", "--out", str(tmp_path / "out")]

    # The command is this interpreter running our own package: no untrusted input.
    good = subprocess.run(  # noqa: S603
        [*command, "--data", str(data), "--json"], capture_output=True, text=True, check=False
    )
    bad = subprocess.run(  # noqa: S603
        [*command, "--data", str(tmp_path / "absent.csv")], capture_output=True, text=True, check=False
    )

    assert good.returncode == 0, good.stderr
    assert good.stderr == ""
    assert json.loads(good.stdout)["summary"]["candles"] == CANDLES
    assert bad.returncode == USAGE_ERROR
    assert bad.stdout == ""
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.splitlines()) == 1
    assert bad.stderr.startswith(f"{ERROR_PREFIX} absent.csv")
