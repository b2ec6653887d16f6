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
from tradebot.ui.i18n import t


def render_adopted_positions(store: Store, username: str) -> None:
    """One confirm / release form per adopted LIVE position (nothing when there is none)."""
    waiting = adopted_positions(store)
    if not waiting:
        return
    st.subheader(t("adopted.title"))
    st.warning(t("adopted.explanation"))
    for position in waiting:
        _render_one(store, username, position)


def _render_one(store: Store, username: str, position: Position) -> None:
    entry = format_krw(position.entry_price) if position.entry_price is not None else t("adopted.unknown")
    st.markdown(t("adopted.held", market=position.market, volume=position.volume, entry=entry))
    with st.form(f"adopted_{position.market}"):
        typed = st.text_input(t("adopted.entry_input"), key=f"entry_{position.market}")
        confirm = st.form_submit_button(t("adopted.confirm", market=position.market))
        release = st.form_submit_button(t("adopted.release", market=position.market))
    if not (confirm or release):
        return
    try:
        entry_price = _entry(typed)
        decision: PositionDecisionKind = "confirm" if confirm else "release"
        decide_adopted_position(store, position.market, decision, username, datetime.now(UTC), entry_price)
    except SettingsError as error:
        st.error(t("adopted.not_changed", error=error))
        return
    st.success(t("adopted.confirmed" if confirm else "adopted.released", market=position.market))


def _entry(typed: str) -> Decimal | None:
    text = typed.strip().replace(",", "")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise SettingsError(f"'{typed}' is not a price in KRW") from None
