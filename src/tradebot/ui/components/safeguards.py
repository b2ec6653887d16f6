"""Upbit's danger signs for the user, as the engine last reported them in `health.json`.

The engine reads Upbit's market list (warning and caution flags, delisted markets) and the LIVE
key's expiry; the dashboard cannot ask Upbit itself, so it shows what a fresh report says: the
ALERT of a position in a delisted or suspended market, the flags on the user's markets, and the
date the LIVE key expires (Account & Mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from tradebot.services.health_monitor import health_file_age, read_health
from tradebot.ui.components.metrics import escape_markdown
from tradebot.ui.session import home

STALE_SECONDS = 15.0  # three 5-second cycles: an older report says nothing about now
KEY_WARNING_DAYS = 14


@dataclass(frozen=True, slots=True)
class SafetyView:
    """What the engine says about the user's markets and key."""

    notes: list[str] = field(default_factory=list)  # an "ALERT: ..." note is a flagged position
    key_expires_at: datetime | None = None


def safety_view(username: str, document: Mapping[str, Any] | None, now: datetime) -> SafetyView | None:
    """The user's safeguard entry of a fresh engine report; None when the report is missing or old."""
    age = health_file_age(document, now)
    if document is None or age is None or age > STALE_SECONDS:
        return None
    for user in document.get("users") or []:
        if isinstance(user, dict) and user.get("username") == username:
            expires = user.get("key_expires_at")
            notes = [str(note) for note in user.get("safeguards") or []]
            return SafetyView(notes, datetime.fromisoformat(expires) if isinstance(expires, str) else None)
    return None


def render_market_safeguards(username: str, now: datetime) -> None:
    """The ALERT of a position in a delisted or suspended market, and the flags on the user's markets."""
    view = safety_view(username, read_health(home()), now)
    if view is None:
        return
    for note in view.notes:
        if note.startswith("ALERT"):
            st.error(escape_markdown(note))
        else:
            st.warning(f"Upbit: {escape_markdown(note)} (no new entries while it lasts; exits still run)")


def render_key_expiry(username: str, now: datetime) -> None:
    """When the LIVE key expires, as the engine last read it from Upbit."""
    view = safety_view(username, read_health(home()), now)
    if view is None or view.key_expires_at is None:
        st.caption("Key expiry: shown once the engine has read it from Upbit (in LIVE mode).")
        return
    left = view.key_expires_at - now
    text = f"Your Upbit API key expires on {view.key_expires_at:%Y-%m-%d %H:%M %Z} ({left.days} days left)."
    if left.days < KEY_WARNING_DAYS:
        st.warning(f"{text} Upbit keys cannot be extended: create a new key and save it here before then.")
    else:
        st.caption(text)
