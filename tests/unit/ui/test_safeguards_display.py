"""Upbit safeguards on the dashboard and the key's expiry on Account & Mode, from `health.json`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import open_position
from tradebot.services.health_monitor import HealthReport, UserHealth, read_health, write_health
from tradebot.services.user_admin import UpbitKeys, save_keys
from tradebot.ui.components.safeguards import safety_view

DELISTED = (
    "ALERT: [TEST] KRW-BTC position open in a market where safeguard:delisted (the market is no longer "
    "listed on Upbit (delisted)): no new entry; its exits still run, but Upbit may refuse the sale"
)


def with_safety(home: Path, notes: list[str], key_expires_at: datetime | None = None) -> None:
    """The engine's fresh report for alice, with safeguard notes and the key's expiry."""
    now = datetime.now(UTC)
    user = UserHealth(
        username="alice", state="running", desired_running=True, mode="LIVE", heartbeat_at=now,
        heartbeat_age_seconds=0.0, last_fetch_at=now, last_closed_candle=None, cycle_duration_seconds=0.1,
        consecutive_errors=0, last_error=None, open_positions=1,
    )  # fmt: skip
    user = replace(user, safeguards=notes, key_expires_at=key_expires_at)
    write_health(
        home, HealthReport(generated_at=now, engine_id="e-1", cycle_seconds=5.0, process=None, users=[user])
    )


def test_safety_view_old_report_says_nothing(ui_home: Path) -> None:
    with_safety(ui_home, [DELISTED])
    document = read_health(ui_home)
    assert safety_view("alice", document, datetime.now(UTC)) is not None
    assert safety_view("alice", document, datetime.now(UTC) + timedelta(minutes=5)) is None
    assert safety_view("bob", document, datetime.now(UTC)) is None


def test_dashboard_shows_delisted_position_alert_and_market_flags(ui_home: Path) -> None:
    open_position(ui_home, "alice", Decimal("0.01"), Decimal(90_000_000), market="KRW-BTC", mode="TEST")
    with_safety(ui_home, [DELISTED, "KRW-ETH: safeguard:warning (Upbit investment warning (유의 종목))"])
    app = page_test("views/dashboard.py").run()
    assert not app.exception
    assert any("safeguard:delisted" in str(item.value) for item in app.error)
    assert any("safeguard:warning" in str(item.value) for item in app.warning)


def test_account_shows_key_expiry_date_and_warns_when_near(ui_home: Path) -> None:
    save_keys(ui_home, "alice", UpbitKeys("access-key-of-alice", "secret0key0of0alice0000000000000000000000"),
              datetime.now(UTC))  # fmt: skip
    expiry = datetime.now(UTC) + timedelta(days=6, hours=12)
    with_safety(ui_home, [], key_expires_at=expiry)
    app = page_test("views/account.py").run()
    assert not app.exception
    warned = [str(item.value) for item in app.warning if "expires on" in str(item.value)]
    assert warned
    assert f"expires on {expiry:%Y-%m-%d}" in warned[0]
    assert "6 days left" in warned[0]
