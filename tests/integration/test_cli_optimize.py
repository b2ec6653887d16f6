"""`tradebot optimize` end to end through `tradebot.cli.main`, on a small seeded synthetic file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tradebot.cli import main
from tradebot.core.models import Interval
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles
from tradebot.services.settings_store import load_conditions, load_params

SPACE = "fast_period: [3, 20]\nslow_period: [10, 60]\nsignal_period: [2, 15]\n"
USAGE_ERROR = 2


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding 6,000 one-minute candles of KRW-ETH and a narrowed space file."""
    directory = tmp_path_factory.mktemp("optimize")
    series = generate_candles(6_000, interval=Interval.MINUTE1, seed=8, start_price=3_000_000.0)
    save_candles(series, directory / "KRW-ETH_candles.parquet", market="KRW-ETH")
    (directory / "space.yaml").write_text(SPACE, encoding="utf-8")
    return directory


def _optimize(workspace: Path, *extra: str) -> list[str]:
    return [
        "optimize",
        "--data",
        str(workspace / "KRW-ETH_candles.parquet"),
        "--space",
        str(workspace / "space.yaml"),
        "--trials",
        "8",
        "--min-trades",
        "2",
        "--seed",
        "3",
        "--jobs",
        "1",
        *extra,
    ]


def _json_run(capsys: pytest.CaptureFixture[str], arguments: list[str]) -> dict[str, Any]:
    assert main(arguments) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_optimize_json_has_the_issues_shape(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = _json_run(capsys, _optimize(workspace, "--walk-forward", "2", "--json"))

    assert set(document) == {"best", "folds", "summary"}
    assert {"params", "conditions", "in_sample", "out_of_sample"} <= set(document["best"])
    assert len(document["folds"]) == 2
    for fold in document["folds"]:
        assert {"train", "test", "params", "conditions", "in_sample", "out_of_sample"} <= set(fold)
        for window in ("train", "test"):
            assert fold[window]["start"].endswith("+00:00")
            assert fold[window]["end"].endswith("+00:00")
        if fold["out_of_sample"] is not None:
            assert {"return", "trades", "win_rate", "max_drawdown"} <= set(fold["out_of_sample"])
    assert document["summary"]["mode"] == "walk_forward"
    assert document["summary"]["market"] == "KRW-ETH"
    assert document["summary"]["verdict"]


def test_optimize_out_files_reproduce_with_tradebot_backtest(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    document = _json_run(capsys, _optimize(workspace, "--walk-forward", "2", "--out", str(out), "--json"))

    assert json.loads((out / "optimize.json").read_text(encoding="utf-8")) == document
    assert (
        load_params(out / "optimized_latest_params.json").model_dump(mode="json")
        == document["best"]["params"]
    )
    assert (
        load_conditions(out / "optimized_buy_sell_conditions.json").model_dump(mode="json")
        == (document["best"]["conditions"])
    )
    with (out / "trials.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 16
    assert {"fold", "trial", "value", "feasible", "closed_trades", "fast_period", "buy.golden_cross"} <= set(
        rows[0]
    )
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Verdict:" in report
    assert "Out-of-sample equity of the stitched folds" in report
    fold = next(fold for fold in document["folds"] if fold["out_of_sample"] is not None)
    directory = out / f"fold-{fold['fold']}"
    backtest = _json_run(
        capsys,
        [
            "backtest",
            "--data",
            str(directory / "candles.parquet"),
            "--params",
            str(directory / "params.json"),
            "--conditions",
            str(directory / "conditions.json"),
            "--out",
            str(tmp_path / "backtest"),
            "--json",
        ],
    )
    for key in ("return", "trades", "win_rate", "max_drawdown", "final_equity", "fees"):
        assert backtest["summary"][key] == fold["out_of_sample"][key], key
    assert backtest["summary"]["first_decision_candle"] == fold["test"]["start"]


def test_optimize_text_output_names_mode_and_verdict(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_optimize(workspace)) == 0

    printed = capsys.readouterr().out
    assert "in_sample_only" in printed
    assert "verdict: in-sample only" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--walk-forward", "40"], "training window has"),
        (["--data", "/nonexistent/KRW-ETH.csv"], "KRW-ETH.csv"),
    ],
)
def test_optimize_bad_input_is_one_line_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(_optimize(workspace, *extra)) == USAGE_ERROR

    error = capsys.readouterr().err
    assert message in error
    assert error.startswith("tradebot: error:")
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "0"], "must be at least 1"),
        (["--train-share", "1.5"], "between 0 and 1"),
        (["--objective", "luck"], "invalid choice"),
    ],
)
def test_optimize_bad_argument_is_a_usage_error(
    workspace: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(_optimize(workspace, *extra))

    assert stopped.value.code == USAGE_ERROR
    assert message in capsys.readouterr().err


def test_optimize_bad_space_file_is_one_line_error(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("fast_period: [1, 5]\n", encoding="utf-8")
    arguments = _optimize(workspace)
    arguments[arguments.index("--space") + 1] = str(space)

    assert main(arguments) == USAGE_ERROR
    assert "fast_period = 1 is outside the allowed range" in capsys.readouterr().err
