"""The sidebar of every logged-in page: who is logged in, the mode and the engine's state.

Logout is the last entry of the page navigation above this block.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.core.i18n.formats import age
from tradebot.services.desired_state import desired_state
from tradebot.ui.dashboard_data import EngineView, engine_view
from tradebot.ui.i18n import current_language, t
from tradebot.ui.session import user_store

STATE_ICONS = {
    "running": "🟢",
    "warming up": "🟡",
    "paused": "⏸️",
    "failed": "🔴",
    "stopped": "⚪",
    "never started": "⚪",
}


def read_engine_view(username: str) -> EngineView:
    """The user's engine state now (raises TradebotError if the database cannot be read)."""
    with user_store(username) as store:
        return engine_view(store.engine_status(), desired_state(store), datetime.now(UTC))


def render_sidebar(username: str) -> None:
    """The sidebar block under the pages (Logout is the last of them): username, mode, engine state."""
    with st.sidebar:
        st.text(f"👤 {username}")
        try:
            view = read_engine_view(username)
        except TradebotError as error:
            st.warning(t("sidebar.cannot_read", error=error))
        else:
            st.caption(t("sidebar.mode", mode=view.mode))
            state = t(f"engine_state.{view.label}")
            st.caption(t("sidebar.engine", icon=STATE_ICONS[view.label], state=state))
            if view.state is not None:
                st.caption(t("sidebar.heartbeat", age=age(view.heartbeat_age, current_language())))
