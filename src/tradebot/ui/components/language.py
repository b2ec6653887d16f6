"""The language choice on Account & Mode: stored with the user, effective at once."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from tradebot.core.i18n import LANGUAGE_NAMES, LANGUAGES, Language
from tradebot.services.preferences import save_language
from tradebot.ui.i18n import LANGUAGE_KEY, current_language, t
from tradebot.ui.session import user_store


def render_language_choice(username: str) -> None:
    """A select box of the dashboard's languages; a change is saved and the page redrawn in it."""
    language = current_language()
    chosen: Language = st.selectbox(
        t("account.language"),
        LANGUAGES,
        index=LANGUAGES.index(language),
        format_func=lambda code: LANGUAGE_NAMES[code],
        help=t("account.language_help"),
        key="language_choice",
    )
    if chosen == language:
        return
    with user_store(username) as store:
        save_language(store, chosen, datetime.now(UTC))
    st.session_state[LANGUAGE_KEY] = chosen
    st.rerun()
