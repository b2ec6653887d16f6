"""The sidebar of every logged-in page: who is logged in, the mode and the engine's state.

Logout is the last entry of the page navigation above this block.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.services.desired_state import desired_state
from tradebot.ui.components.metrics import format_age
from tradebot.ui.dashboard_data import EngineView, engine_view
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
            st.warning(f"Cannot read your data: {error}")
        else:
            st.caption(f"Mode: **{view.mode}**")
            st.caption(f"Engine: {STATE_ICONS[view.label]} {view.label}")
            if view.state is not None:
                st.caption(f"Heartbeat: {format_age(view.heartbeat_age)}")
