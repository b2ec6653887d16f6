"""Login page: a username and password form checked against `credentials.yaml` (bcrypt).

A successful login starts a server-side session (`ui.session.begin_session`) and asks the browser
to keep its random id as the login cookie. No `st.rerun()` after it: that would discard the cookie
component before it set the cookie. The component's answer reruns the app, which then lists the
logged-in pages; this page (still registered, hidden) then moves on to the Dashboard.

Repeated failures lock the username (`services.login_guard`): a locked username is refused before
its password is checked, each failure is counted in the data directory and a success clears the
count. The username is compared in lower case without surrounding spaces; the password exactly as
typed (`tradebot user add` refuses passwords with surrounding whitespace or control characters).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import streamlit as st

from tradebot.core.i18n.formats import minute
from tradebot.services.login_guard import LoginGuard, LoginLocked, guarded_check
from tradebot.services.user_admin import verify_login
from tradebot.ui.i18n import current_language, t
from tradebot.ui.session import (
    AUTH_STATUS_KEY,
    begin_session,
    home,
    logged_in_username,
    set_login_cookie,
)

DASHBOARD_FILE = "views/dashboard.py"


def check(username: str, password: str) -> bool:
    """The password check the login guard wraps."""
    return verify_login(home(), username, password)


def locked_message(name: str, locked: LoginLocked) -> str:
    """Why the login is refused and until when, in this session's language."""
    minutes = max(1, math.ceil((locked.until - datetime.now(UTC)).total_seconds() / 60))
    until = minute(locked.until, current_language())
    if minutes == 1:
        return t("login.locked_one", name=name, until=until)
    return t("login.locked", name=name, minutes=minutes, until=until)


def submit(username: str, password: str) -> None:
    """Check the typed login; on success start the session and set the cookie, else say why not."""
    name = username.strip().lower()
    try:
        accepted = guarded_check(check, LoginGuard(home()))(name, password)
    except LoginLocked as locked:
        st.session_state[AUTH_STATUS_KEY] = None
        st.error(locked_message(name, locked))
        st.stop()
    if not accepted:
        st.session_state[AUTH_STATUS_KEY] = False
        return
    set_login_cookie(begin_session(name))
    # This run's navigation still lists the logged-out pages only: no link to the Dashboard yet.
    st.success(t("login.opening", name=name))


def main() -> None:
    """The page."""
    if logged_in_username() is not None:
        # The rerun the cookie component starts once it has set the cookie (or a logged-in visit to /login).
        st.switch_page(DASHBOARD_FILE)
    st.title("📈 tradebot")
    st.caption(t("login.tagline"))
    with st.form("login_form", clear_on_submit=False):
        st.subheader(t("login.heading"))
        username = st.text_input(t("login.username"), autocomplete="username")
        password = st.text_input(t("login.password"), type="password", autocomplete="current-password")
        submitted = st.form_submit_button(t("login.submit"))
    if submitted:
        submit(username or "", password or "")
    status = st.session_state.get(AUTH_STATUS_KEY)
    if status is False:
        st.error(t("login.incorrect"))
    elif status is None:
        st.info(t("login.prompt"))


main()
