"""`tradebot why`: the trace of one order or trade on the command line; unknown ones exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.services.test_audit_query import CREATED, write_audit_rows
from tradebot.cli import main
from tradebot.services.paths import database_path
from tradebot.services.user_admin import create_user


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path))
    create_user(tmp_path, "alice", None, CREATED)
    write_audit_rows(tmp_path)
    return tmp_path


def test_why_order_prints_order_candle_rule_conditions_and_settings(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["why", "--user", "alice", "--order", "tradebot-alice-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trade #1: TEST buy KRW-BTC minute15\n")
    assert "  cause      strategy, rule golden_cross" in out
    assert "  candle     2026-03-02T00:15:00Z = 2026-03-02T09:15:00+09:00 KST" in out
    assert "    conditions.buy.golden_cross = true" in out
    assert "+09:00 KST" in out
    assert "golden_cross             enabled  passed" in out
    assert "  settings   params v1, conditions v2" in out
    assert "    params.take_profit = " in out


def test_why_json_is_the_trace_document(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", "--user", "alice", "--order", "tradebot-alice-1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["trade_id"], document["side"], document["cause"]["rule"]) == (1, "buy", "golden_cross")
    assert document["evaluation"]["table"] == "buy_eval"
    assert document["evaluation"]["conditions"]["golden_cross"] == {
        "enabled": True,
        "passed": True,
        "value": 0.3,
    }
    assert document["fill"]["fill_price"] == "100000000"


def test_why_trade_id_traces_a_row_without_order(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["why", "--user", "alice", "--trade", "2"]) == 0
    out = capsys.readouterr().out
    assert "cause      manual" in out
    assert "order      " not in out


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (["--order", "tb.nothing"], "alice has no order 'tb.nothing'"),
        (["--trade", "42"], "alice has no trade #42"),
    ],
)
def test_why_unknown_order_or_trade_one_line_on_stderr_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str], target: list[str], message: str
) -> None:
    assert main(["why", "--user", "alice", *target]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"tradebot: error: {message}\n"


def test_why_unknown_user_one_line_exit_2_creates_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["why", "--user", "nobody", "--order", "x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not database_path(home, "nobody").exists()


def test_why_needs_an_order_or_a_trade(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["why", "--user", "alice"])
    assert exited.value.code == 2
    assert "one of the arguments --order --trade is required" in capsys.readouterr().err
