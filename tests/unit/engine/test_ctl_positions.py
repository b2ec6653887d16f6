"""`tradebot ctl adopted | confirm-position | release-position`: the user's answer from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.services.records import Position
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    create_user(tmp_path, "alice", None, NOW)
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path))
    for market in ("KRW-BTC", "KRW-ETH"):
        position = Position(
            mode="LIVE", market=market, volume=Decimal("0.2"), entry_price=None, peak_price=None,
            entry_candle_start=None, bars_held=0, updated_at=NOW, origin="adopted",
        )  # fmt: skip
        with open_user_store(tmp_path, "alice") as store, store.transaction() as transaction:
            transaction.set_position(position)
    return tmp_path


def test_ctl_lists_confirms_with_entry_and_releases_adopted_positions(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ctl", "adopted", "--user", "alice"]) == 0
    listed = capsys.readouterr().out
    assert "KRW-BTC: 0.2 held, entry unknown" in listed
    assert "KRW-ETH" in listed
    assert main(["ctl", "confirm-position", "--user", "alice", "--market", "KRW-BTC"]) == 2
    assert "entry price is unknown" in capsys.readouterr().err
    arguments = [
        "ctl",
        "confirm-position",
        "--user",
        "alice",
        "--market",
        "KRW-BTC",
        "--entry-price",
        "90,000,000",
    ]
    assert main(arguments) == 0
    assert main(["ctl", "release-position", "--user", "alice", "--market", "KRW-ETH"]) == 0
    with open_user_store(home, "alice") as store:
        positions = store.positions("LIVE")
        decisions = [(item.market, item.decision) for item in store.position_decisions()]
    assert [(item.market, item.origin, item.entry_price) for item in positions] == [
        ("KRW-BTC", "bot", Decimal(90_000_000))
    ]
    assert decisions == [("KRW-BTC", "confirm"), ("KRW-ETH", "release")]
    assert main(["ctl", "adopted", "--user", "alice"]) == 0
    assert "no position waits for a decision" in capsys.readouterr().out


def test_ctl_position_decision_without_market_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ctl", "release-position", "--user", "alice"]) == 2
    assert "needs --market" in capsys.readouterr().err
