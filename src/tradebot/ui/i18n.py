"""The language of this browser session and the page-side lookup `t()`.

The language is the logged-in user's choice (Account & Mode, stored with the user); before login,
or for a user who has not chosen, the browser's preferred language (`Accept-Language`, e.g. `ko-KR`
→ Korean), else English. `app.py` settles it once per page run, before any page draws, so a switch
takes effect at once without logging out.
"""

from __future__ import annotations

import streamlit as st

from tradebot.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language, negotiate, parse_language, text

LANGUAGE_KEY = "language"


def browser_language() -> Language:
    """The supported language the browser prefers: its Accept-Language header, else its locale."""
    header = st.context.headers.get("Accept-Language")
    if header:
        return negotiate(header)
    return parse_language(st.context.locale) or DEFAULT_LANGUAGE


def settle_language(chosen: Language | None) -> Language:
    """Use the user's stored choice when there is one, else the browser's; remember it for this run."""
    language = chosen if chosen in LANGUAGES else browser_language()
    st.session_state[LANGUAGE_KEY] = language
    return language


def current_language() -> Language:
    """The language this page run speaks."""
    language = st.session_state.get(LANGUAGE_KEY)
    return language if language in LANGUAGES else browser_language()


def t(key: str, /, **values: object) -> str:
    """The words for `key` in this session's language (see `tradebot.core.i18n.text`)."""
    return text(key, current_language(), **values)
