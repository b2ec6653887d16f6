"""Audit Viewer page: three tabs of the logged-in user's audit rows, filtered, with versions and CSV."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.unit.services.test_audit_query import T0, write_audit_rows
from tests.unit.ui.conftest import page_test
from tradebot.services.audit_query import FAILED, HELD
from tradebot.services.paths import database_path

PAGE = "views/audit_viewer.py"


def frames(app: AppTest) -> list[pd.DataFrame]:
    """The buy, sell and trade tables (the settings-versions table comes last)."""
    return [frame.value for frame in app.dataframe]


def test_audit_viewer_shows_each_table_sorted_by_candle_start_with_symbols_and_versions(
    ui_home: Path,
) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    assert not app.exception
    assert [tab.label for tab in app.tabs] == [
        "Buy evaluations (buy_eval)",
        "Sell evaluations (sell_eval)",
        "Trades (trade_audit)",
    ]
    buy, sell, trades, versions = frames(app)
    assert buy["candle_start"].is_monotonic_decreasing
    assert [len(buy), len(sell), len(trades)] == [4, 3, 2]
    assert set(buy["golden_cross"]) == {HELD, FAILED, ""}
    assert {"params_version", "conditions_version"} <= set(sell.columns)
    assert versions["version"].tolist() == [1, 2, 3]
    labels = [button.label for button in app.get("download_button")]
    assert labels == ["Download CSV (4 rows)", "Download CSV (3 rows)", "Download CSV (2 rows)"]


def test_audit_viewer_failed_condition_and_trigger_filters_narrow_the_rows(ui_home: Path) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    app.selectbox(key="audit_buy_eval_failed").select("golden_cross")
    app.selectbox(key="audit_sell_eval_trigger").select("tick").run()
    buy, sell, _, _ = frames(app)
    assert set(buy["golden_cross"]) == {FAILED}
    assert len(buy) == 2  # candle 0 of KRW-BTC and the KRW-ETH row
    assert sell["trigger_kind"].tolist() == ["tick"]


def test_audit_viewer_date_range_and_market_filters_apply_to_every_tab(ui_home: Path) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    app.selectbox(key="audit_market").select("KRW-ETH minute15").run()
    buy, sell, _, _ = frames(app)
    assert buy["market"].tolist() == ["KRW-ETH"]
    assert sell.empty
    app.selectbox(key="audit_market").select("any")
    app.date_input(key="audit_from").set_value(T0.date() + timedelta(days=1)).run()
    assert all(frame.empty for frame in frames(app)[:2])


def test_audit_viewer_shows_only_the_logged_in_users_rows(ui_home: Path) -> None:
    write_audit_rows(ui_home, "alice")
    app = page_test(PAGE, username="bob").run()
    assert not app.exception
    assert all(frame.empty for frame in frames(app)[:3])


def test_audit_viewer_missing_database_is_a_clear_error(ui_home: Path) -> None:
    database_path(ui_home, "alice").unlink()
    app = page_test(PAGE).run()
    assert not app.exception
    assert "Cannot read your audit records" in app.error[0].value
    assert not database_path(ui_home, "alice").exists()
