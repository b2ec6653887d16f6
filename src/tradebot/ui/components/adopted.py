"""LIVE positions an older tradebot adopted from the account: the user confirms or releases each.

Until the user answers, such a position is neither guarded nor sold by the bot and the bot opens
no new position in its market (docs/TRADING_RULES.md, "Positions adopted by older versions").
The answer goes through `services.trading_control`, like `tradebot ctl confirm-position`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import streamlit as st

from tradebot.core.errors import SettingsError
from tradebot.services.records import Position, PositionDecisionKind
from tradebot.services.storage import Store
from tradebot.services.trading_control import adopted_positions, decide_adopted_position
from tradebot.ui.components.metrics import format_krw

EXPLANATION = (
    "An older version of tradebot took these coins from your Upbit balance as its own position. "
    "Until you decide, the bot neither sells nor guards them and opens no new position in that "
    "market. **Confirm** if the bot bought them (it then guards them with its stop loss, take "
    "profit and trailing stop and sells them on its exits); **release** if they are yours (the bot "
    "forgets them and never sells them)."
)


def render_adopted_positions(store: Store, username: str) -> None:
    """One confirm / release form per adopted LIVE position (nothing when there is none)."""
    waiting = adopted_positions(store)
    if not waiting:
        return
    st.subheader("Positions waiting for your decision")
    st.warning(EXPLANATION)
    for position in waiting:
        _render_one(store, username, position)


def _render_one(store: Store, username: str, position: Position) -> None:
    entry = format_krw(position.entry_price) if position.entry_price is not None else "unknown"
    st.markdown(f"**{position.market}**: {position.volume} held, entry price {entry}")
    with st.form(f"adopted_{position.market}"):
        typed = st.text_input(
            "Entry price (KRW), needed to confirm when it is unknown", key=f"entry_{position.market}"
        )
        confirm = st.form_submit_button(f"Confirm: the bot's ({position.market})")
        release = st.form_submit_button(f"Release: mine ({position.market})")
    if not (confirm or release):
        return
    try:
        entry_price = _entry(typed)
        decision: PositionDecisionKind = "confirm" if confirm else "release"
        decide_adopted_position(store, position.market, decision, username, datetime.now(UTC), entry_price)
    except SettingsError as error:
        st.error(f"Not changed: {error}")
        return
    st.success(f"{position.market}: {'confirmed as the bot’s' if confirm else 'released to you'}.")


def _entry(typed: str) -> Decimal | None:
    text = typed.strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SettingsError(f"'{typed}' is not a price in KRW") from None
