"""Every open position of the user, in both modes and every market, and what checks its price exits.

The positions come from the user's database; what guards each one only the engine knows, so it is
read from a fresh `health.json` (`services.health_monitor.engine_guarding`). Without a fresh file
the engine is down and nothing checks any stop loss: each position is then shown as an ALERT.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.services.health_monitor import (
    GUARD,
    LOOP,
    PositionHealth,
    engine_guarding,
    position_health,
    read_health,
)
from tradebot.ui.components.metrics import escape_markdown, format_krw, format_volume
from tradebot.ui.i18n import t
from tradebot.ui.session import home, user_store

STALE_CYCLES = 3  # as `tradebot health --max-age-cycles`
DEFAULT_CYCLE_SECONDS = 5.0
POSITION_COLUMNS = ["mode", "market", "volume", "entry_price", "checked_by"]
GUARD_LABELS = {LOOP: "positions.loop", GUARD: "positions.guard"}


def load_positions(username: str, document: Mapping[str, Any] | None, now: datetime) -> list[PositionHealth]:
    """The user's open positions (TEST and LIVE) with what guards each, per a fresh engine report."""
    cycle = document.get("cycle_seconds") if document is not None else None
    seconds = float(cycle) if isinstance(cycle, int | float) else DEFAULT_CYCLE_SECONDS
    guarding = engine_guarding(document, now, STALE_CYCLES * seconds).get(username, {})
    with user_store(username) as store, store.snapshot() as reader:
        held = [*reader.positions("TEST"), *reader.positions("LIVE")]
    return [position_health(position, guarding) for position in held]


def position_rows(positions: list[PositionHealth]) -> pd.DataFrame:
    """The positions as a table."""
    frame = pd.DataFrame(
        [
            {
                "mode": item.mode,
                "market": item.market,
                "volume": format_volume(Decimal(item.volume)),
                "entry_price": format_krw(None if item.entry_price is None else Decimal(item.entry_price)),
                "checked_by": t("positions.nothing" if item.unguarded else GUARD_LABELS[item.guarded_by]),
            }
            for item in positions
        ],
        columns=POSITION_COLUMNS,
    )
    return frame.rename(columns={name: t(f"positions.column.{name}") for name in POSITION_COLUMNS})


def render_positions(username: str, now: datetime) -> None:
    """The "Open positions" section: a table, an ALERT per unguarded position, what Stop means."""
    st.subheader(t("positions.title"))
    try:
        positions = load_positions(username, read_health(home()), now)
    except TradebotError as error:
        st.error(t("positions.unreadable", error=error))
        return
    if not positions:
        st.caption(t("positions.none"))
        return
    st.dataframe(position_rows(positions), hide_index=True)
    for item in positions:
        if item.unguarded:
            why = item.problem or t("positions.not_reported")
            alert = t("positions.alert", mode=item.mode, market=item.market, why=escape_markdown(why))
            st.error(alert)
    st.caption(t("positions.stop_note"))
