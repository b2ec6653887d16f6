"""The dashboard's "Open positions": every position in both modes and what checks its price exits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import open_position
from tradebot.services.health_monitor import (
    GUARD,
    LOOP,
    HealthReport,
    PositionHealth,
    UserHealth,
    write_health,
)

PAGE = "views/dashboard.py"


def engine_file(home: Path, positions: list[PositionHealth], username: str = "alice") -> None:
    """A fresh `health.json` whose entry for `username` names what guards each position."""
    now = datetime.now(UTC)
    user = UserHealth(
        username=username, state="running", desired_running=True, mode="TEST", heartbeat_at=now,
        heartbeat_age_seconds=0.0, last_fetch_at=now, last_closed_candle=None, cycle_duration_seconds=0.1,
        consecutive_errors=0, last_error=None, open_positions=len(positions), positions=positions,
    )  # fmt: skip
    report = HealthReport(generated_at=now, engine_id="e-1", cycle_seconds=5.0, process=None, users=[user])
    write_health(home, report)


def guarded(mode: str, market: str, by: str) -> PositionHealth:
    return PositionHealth(mode=mode, market=market, volume="0", entry_price=None, guarded_by=by)


def position_table(app: AppTest) -> list[dict[str, str]]:
    frame = next(item.value for item in app.dataframe if "price exits checked by" in item.value.columns)
    rows: list[dict[str, str]] = frame.to_dict("records")
    return rows


def alerts(app: AppTest) -> list[str]:
    return [str(item.value) for item in app.error if "ALERT" in str(item.value)]


def hold_in_two_modes(home: Path) -> None:
    open_position(home, "alice", Decimal("0.01"), Decimal(90_000_000), market="KRW-BTC", mode="TEST")
    open_position(home, "alice", Decimal("1.5"), Decimal(4_000_000), market="KRW-ETH", mode="LIVE")


def test_dashboard_lists_every_position_with_its_guard(ui_home: Path) -> None:
    hold_in_two_modes(ui_home)
    engine_file(ui_home, [guarded("TEST", "KRW-BTC", LOOP), guarded("LIVE", "KRW-ETH", GUARD)])

    app = page_test(PAGE).run()

    assert not app.exception
    assert position_table(app) == [
        {"mode": "TEST", "market": "KRW-BTC", "volume": "0.01", "entry price": "90,000,000 KRW",
         "price exits checked by": "the running loop"},
        {"mode": "LIVE", "market": "KRW-ETH", "volume": "1.5", "entry price": "4,000,000 KRW",
         "price exits checked by": "a price-exit guard"},
    ]  # fmt: skip
    assert alerts(app) == []
    assert any("stay armed" in str(item.value) for item in app.caption)


def test_dashboard_position_the_engine_does_not_report_is_an_alert(ui_home: Path) -> None:
    hold_in_two_modes(ui_home)
    engine_file(ui_home, [guarded("TEST", "KRW-BTC", LOOP)])  # the LIVE one is not watched

    app = page_test(PAGE).run()

    assert not app.exception
    assert [row["price exits checked by"] for row in position_table(app)] == ["the running loop", "NOTHING"]
    [alert] = alerts(app)
    assert "your LIVE KRW-ETH position" in alert


def test_dashboard_without_engine_report_alerts_every_position(ui_home: Path) -> None:
    hold_in_two_modes(ui_home)

    app = page_test(PAGE).run()

    assert not app.exception
    assert [row["price exits checked by"] for row in position_table(app)] == ["NOTHING", "NOTHING"]
    assert len(alerts(app)) == 2


def test_dashboard_without_positions_says_so(ui_home: Path) -> None:
    app = page_test(PAGE).run()

    assert not app.exception
    assert any(str(item.value) == "No open position." for item in app.caption)
