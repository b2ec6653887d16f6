"""Who is logged in, and the one way a page reaches data: the logged-in user's own files.

The username comes only from the authenticated session (set by the login), is validated before it
becomes part of a path, and must still have a login in `credentials.yaml`. Nothing a browser sends
(URL parameters, widget values) selects whose database is opened, so one user cannot read or command
another user's data through the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from tradebot.core.errors import SettingsError
from tradebot.services.credentials import load_credentials
from tradebot.services.db import Store, open_user_store
from tradebot.services.paths import data_home, database_path
from tradebot.services.users import validate_username

AUTH_STATUS_KEY = "authentication_status"
USERNAME_KEY = "username"


def home() -> Path:
    """The data directory the dashboard serves (`TRADEBOT_HOME`, else `./data`)."""
    return data_home()


def logged_in_username() -> str | None:
    """The authenticated, valid username of this browser session, or None."""
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        return None
    username = st.session_state.get(USERNAME_KEY)
    if not isinstance(username, str):
        return None
    try:
        validate_username(username)
    except SettingsError:
        return None
    if username not in load_credentials(home())["usernames"]:
        return None  # login removed since: the session no longer opens anything
    return username


def require_user() -> str:
    """The logged-in username; otherwise shows a message and stops the page here."""
    username = logged_in_username()
    if username is None:
        st.warning("Please log in.")
        st.stop()
    return username


@contextmanager
def user_store(username: str) -> Iterator[Store]:
    """The user's database, opened for this script run only (never created here)."""
    path = database_path(home(), username)
    if not path.exists():
        raise SettingsError(f"no database for {username}: create the user with: tradebot user add")
    with open_user_store(home(), username) as store:
        yield store
