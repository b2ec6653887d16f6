"""Login page: streamlit-authenticator's form against `credentials.yaml`.

No `st.rerun()` after a successful login: that would discard the cookie component before it set
the cookie. The component's answer reruns the app, which then lists the logged-in pages; this page
(still registered, hidden) then moves on to the Dashboard.

Repeated failures lock the username (`services.login_guard`): the library's password check is
wrapped so a locked username is refused before its password is checked, each failure is counted in
the data directory and a success clears the count.
"""

from __future__ import annotations

import streamlit as st

from tradebot.services.login_guard import LoginGuard, LoginLocked, guarded_check
from tradebot.ui.session import home

AUTHENTICATOR_KEY = "authenticator"
DASHBOARD_FILE = "views/dashboard.py"

if st.session_state.get("authentication_status"):
    # The rerun the cookie component starts once it has set the cookie (or a logged-in visit to /login).
    st.switch_page(DASHBOARD_FILE)

st.title("📈 tradebot")
st.caption("MACD trading bot for Upbit KRW markets — log in to watch and steer your strategy.")
authenticator = st.session_state.get(AUTHENTICATOR_KEY)
if authenticator is None:
    st.error("The login is not ready: open the dashboard from its main address.")
    st.stop()
model = authenticator.authentication_controller.authentication_model
model.check_credentials = guarded_check(model.check_credentials, LoginGuard(home()))
try:
    authenticator.login(location="main")
except LoginLocked as locked:
    st.error(str(locked))
    st.stop()
status = st.session_state.get("authentication_status")
if status is False:
    st.error("Username/password is incorrect")
elif status is None:
    st.info("Please enter your username and password")
else:
    # This run's navigation still lists the logged-out pages only: no link to the Dashboard yet.
    st.success(f"Logged in as {st.session_state.get('username')}: opening the Dashboard…")
