"""Keys the dashboard builds from codes at run time all exist in the catalogue."""

from __future__ import annotations

from tradebot.core.i18n import catalogue
from tradebot.ui.components.sidebar import STATE_ICONS


def test_sidebar_every_engine_state_has_words() -> None:
    assert [state for state in STATE_ICONS if f"engine_state.{state}" not in catalogue("en")] == []
