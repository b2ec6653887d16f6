"""The Dashboard says when a protection blocks entries, and until when."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.unit.services.test_protection_status import MINUTE, PARAMS, START, audit, fill
from tests.unit.ui.conftest import page_test
from tradebot.services.settings_store import save_params
from tradebot.services.storage import open_user_store
from tradebot.services.users import params_path
from tradebot.ui.dashboard_data import load_dashboard


def cooling_down(home: Path) -> None:
    save_params(params_path(home, "alice"), PARAMS)
    with open_user_store(home, "alice") as store:
        fill(store, 8, [audit("bid", 2, 10_000, "1"), audit("ask", 6, 9_900, "1", profit="-110")], "990000")


def test_dashboard_data_lists_the_active_protection_and_until_when(ui_home: Path) -> None:
    cooling_down(ui_home)
    with open_user_store(ui_home, "alice") as store:
        data = load_dashboard(store, PARAMS, START + 8 * MINUTE + timedelta(seconds=5))
    assert data.protections == ("protection:cooldown: no entry through the candle of 2025-06-02 23:59 KST",)


def test_dashboard_data_without_protections_lists_none(ui_home: Path) -> None:
    save_params(params_path(ui_home, "alice"), PARAMS)
    with open_user_store(ui_home, "alice") as store:
        fill(store, 8, [], "1000000")
        assert load_dashboard(store, PARAMS, START + 8 * MINUTE).protections == ()


def test_dashboard_page_shows_the_protection_line(ui_home: Path) -> None:
    cooling_down(ui_home)
    app: AppTest = page_test("views/dashboard.py").run()
    assert not app.exception
    warnings = [item.value for item in app.warning]
    assert any(
        "New entries blocked by protection:cooldown" in text and "23:59 KST" in text for text in warnings
    )
