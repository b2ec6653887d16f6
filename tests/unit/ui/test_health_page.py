"""Health page: process-wide figures and only the logged-in user's own loop; a missing or old file is said."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.health_monitor import (
    GUARD,
    NOTHING,
    HealthReport,
    PositionHealth,
    ProcessHealth,
    UserHealth,
    write_health,
)

PAGE = "views/health.py"
BOB_ERROR = "bob's private failure: invalid key xyz"


def user(username: str, *, last_error: str | None = None, errors: int = 0) -> UserHealth:
    now = datetime.now(UTC)
    return UserHealth(
        username=username,
        state="running",
        desired_running=True,
        mode="TEST",
        heartbeat_at=now,
        heartbeat_age_seconds=0.0,
        last_fetch_at=now,
        last_closed_candle=now - timedelta(minutes=1),
        cycle_duration_seconds=0.25,
        consecutive_errors=errors,
        last_error=last_error,
        open_positions=1,
    )


def write_report(home: Path, age_seconds: float = 1.0, throttled: int = 0) -> None:
    process = ProcessHealth(
        pid=42, rss_bytes=150 * 1_048_576, cpu_percent=4.5, uptime_seconds=7265.0, threads=9
    )
    report = HealthReport(
        generated_at=datetime.now(UTC) - timedelta(seconds=age_seconds),
        engine_id="engine-1",
        cycle_seconds=5.0,
        process=process,
        rate_groups={"market": GroupCounts(120, throttled, 0), "order": GroupCounts(3, 0, 0)},
        users=[user("alice", errors=1), user("bob", last_error=BOB_ERROR, errors=4)],
    )
    write_health(home, report)


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: str(metric.value) for metric in app.metric}


def all_text(app: AppTest) -> str:
    kinds = ("markdown", "caption", "error", "warning", "success", "info", "subheader", "title")
    texts = [str(element.value) for kind in kinds for element in app.get(kind)]
    texts += [frame.value.to_csv() for frame in app.dataframe]
    return "\n".join(texts + [str(metric.value) for metric in app.metric])


def test_health_page_fresh_file_shows_process_figures_and_own_loop(ui_home: Path) -> None:
    write_report(ui_home)
    app = page_test(PAGE).run()
    assert not app.exception
    assert "Engine `engine-1` is running" in app.success[0].value
    shown = metrics(app)
    assert shown["Memory (RSS)"] == "150 MiB"
    assert shown["Uptime"] == "2:01:05"
    assert shown["Threads"] == "9"
    assert shown["Users served"] == "2"
    assert shown["State"] == "running"
    assert shown["Errors in a row"] == "1"
    assert app.dataframe[0].value["group"].tolist() == ["market", "order"]


def test_health_page_never_shows_other_users_names_or_errors(ui_home: Path) -> None:
    write_report(ui_home)
    text = all_text(page_test(PAGE).run())
    assert "bob" not in text
    assert BOB_ERROR not in text
    bobs = page_test(PAGE, username="bob").run()
    assert BOB_ERROR in bobs.warning[0].value  # his own error is shown to him
    assert metrics(bobs)["Errors in a row"] == "4"


def test_health_page_missing_file_says_engine_not_running_and_reads_own_database(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    assert not app.exception
    assert "The engine is not running" in app.error[0].value
    assert metrics(app)["State"] == "unknown"
    assert "your database" in " ".join(caption.value for caption in app.caption)


def test_health_page_old_file_warns_that_the_engine_stopped(ui_home: Path) -> None:
    write_report(ui_home, age_seconds=600)
    app = page_test(PAGE).run()
    assert "10 min ago" in app.warning[0].value
    assert "stopped or hangs" in app.warning[0].value
    assert not app.success


def test_health_page_throttled_group_is_flagged(ui_home: Path) -> None:
    write_report(ui_home, throttled=3)
    app = page_test(PAGE).run()
    groups = app.dataframe[0].value
    assert groups.loc[groups["group"] == "market", "status"].tolist() == ["throttled (429)"]
    assert any("throttled (429)" in warning.value for warning in app.warning)


def test_health_page_lists_own_positions_with_their_guard_and_alert(ui_home: Path) -> None:
    positions = [
        PositionHealth(mode="LIVE", market="KRW-BTC", volume="0.01", entry_price="9000", guarded_by=GUARD),
        PositionHealth(mode="TEST", market="KRW-ETH", volume="2", entry_price="4000", guarded_by=NOTHING),
    ]
    alice = replace(
        user("alice"), positions=positions, alert="ALERT: open position whose stop loss ... : TEST KRW-ETH"
    )
    report = HealthReport(
        generated_at=datetime.now(UTC), engine_id="engine-1", cycle_seconds=5.0, process=None, users=[alice]
    )
    write_health(ui_home, report)

    app = page_test(PAGE).run()

    assert not app.exception
    table = next(frame.value for frame in app.dataframe if "guarded by" in frame.value.columns)
    assert table[["mode", "market", "guarded by"]].values.tolist() == [
        ["LIVE", "KRW-BTC", "guard"],
        ["TEST", "KRW-ETH", "NOTHING"],
    ]
    assert any("TEST KRW-ETH" in str(error.value) for error in app.error)
