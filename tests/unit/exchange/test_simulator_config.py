"""Simulator configuration, the accounts file and the `tradebot simulator` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.exchange.simulator import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    SimulatorConfigError,
    build_config,
    load_accounts,
)
from tradebot.exchange.simulator.server import SimulatorServer


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_accounts_file_is_read(tmp_path: Path) -> None:
    accounts = load_accounts(
        write(
            tmp_path / "a.json",
            [{"access_key": "a", "secret_key": "s", "balances": {"KRW": "1000000", "BTC": "0.5"}}],
        )
    )
    assert accounts[0].balances["BTC"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "empty"),
        ({"access_key": "a"}, "list"),
        ([{"access_key": "a", "secret_key": "s", "balances": {"KRW": "-5"}}], "balances: balance of KRW"),
        ([{"access_key": "a", "secret_key": "s", "balances": {"krw": "5"}}], "currency 'krw'"),
        ([{"access_key": "a"}], "secret_key"),
        ([{"access_key": "a", "secret_key": "s", "extra": 1}], "extra"),
    ],
)
def test_bad_accounts_files_give_one_line(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(SimulatorConfigError) as refused:
        load_accounts(write(tmp_path / "accounts.json", document))
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(str(tmp_path))


def test_config_errors_and_demo_account() -> None:
    with pytest.raises(SimulatorConfigError, match=r"markets.*KRW market code"):
        build_config(markets=["BTC-ETH"])
    with pytest.raises(SimulatorConfigError, match="accounts"):
        build_config(
            accounts=[{"access_key": "a", "secret_key": "s"}, {"access_key": "a", "secret_key": "t"}]
        )
    config = build_config()
    assert config.host == "127.0.0.1"
    assert config.demo_accounts
    assert config.effective_accounts()[0].access_key == DEMO_ACCESS_KEY


def test_help_documents_options_and_warns_about_admin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulator", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--markets",
        "--seed",
        "--speed",
        "--data",
        "--accounts",
        "--error-rate",
    ):
        assert option in text
    assert "/_admin/clock/step" in text
    assert "never expose" in text


def test_bad_configuration_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulator", "--accounts", str(tmp_path / "missing.json")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("tradebot: error: ")
    assert error.count("\n") == 1
    assert main(["simulator", "--data", str(write(tmp_path / "KRW-BTC.csv", "x"))]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit):
        main(["simulator", "--markets", "BTC"])
    assert capsys.readouterr().err.count("\n") == 1


def test_run_prints_url_and_demo_keys_and_stops_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: SimulatorServer) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(SimulatorServer, "serve", interrupted)
    assert main(["simulator", "--port", "0", "--history-days", "1", "--speed", "0"]) == 0
    out = capsys.readouterr().out
    assert "listening on http://127.0.0.1:" in out
    assert DEMO_ACCESS_KEY in out
    assert DEMO_SECRET_KEY in out
    assert out.rstrip().endswith("Upbit simulator stopped")
