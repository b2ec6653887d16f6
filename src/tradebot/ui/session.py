"""Who is logged in, and the one way a page reaches data: the logged-in user's own files.

The username comes only from the authenticated session: a login (or the login cookie) binds a
server-side session (`services.web_sessions`) to this browser session, and every check asks that
store again, so a logout, a password change, an expiry or an idle timeout ends the login at the
next page run, in every tab. The username is validated before it becomes part of a path and must
still have a login in `credentials.yaml`. Nothing a browser sends (URL parameters, widget values)
selects whose database is opened, so one user cannot read or command another user's data.

The login cookie holds only the session's random id; it is set by the cookie component in the
browser (Streamlit cannot send `Set-Cookie` headers, so it cannot be HttpOnly), `SameSite=Strict`,
and `Secure` when the page is served over https or `TRADEBOT_COOKIE_SECURE` says a TLS proxy is in
front.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st

from tradebot.core.errors import SettingsError, TradebotError
from tradebot.core.i18n import Language
from tradebot.services import preferences
from tradebot.services.credentials import load_credentials
from tradebot.services.paths import data_home, database_path
from tradebot.services.storage import DatabaseUnavailableError, StorageError, Store, open_user_store
from tradebot.services.users import validate_username
from tradebot.services.web_sessions import SessionStore
from tradebot.ui.i18n import t

AUTH_STATUS_KEY = "authentication_status"
USERNAME_KEY = "username"
NAME_KEY = "name"
SESSION_TOKEN_KEY = "session_token"  # noqa: S105 - the name of a session-state key, not a secret
COOKIE_MANAGER_KEY = "cookie_manager"
COOKIE_NAME = "tradebot_auth"
COOKIE_SECURE_VARIABLE = "TRADEBOT_COOKIE_SECURE"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def home() -> Path:
    """The data directory the dashboard serves (`TRADEBOT_HOME`, else `./data`)."""
    return data_home()


def session_store() -> SessionStore:
    """The login sessions of the data directory the dashboard serves."""
    return SessionStore(home())


def logged_in_username(*, touch: bool = True) -> str | None:
    """The authenticated, valid username of this browser session, or None.

    The server-side session must still be live and belong to that username; `touch=False` (an
    automatic refresh) checks it without counting as use, so an unattended page still goes idle.
    """
    if st.session_state.get(AUTH_STATUS_KEY) is not True:
        return None
    username = st.session_state.get(USERNAME_KEY)
    if not has_login(username):
        return None
    if session_store().resolve(st.session_state.get(SESSION_TOKEN_KEY), touch=touch) != username:
        return None  # logged out elsewhere, password changed, expired or idle too long
    return str(username)


def has_login(username: object) -> bool:
    """True for a valid username that still has a login in `credentials.yaml`."""
    if not isinstance(username, str):
        return False
    try:
        validate_username(username)
    except SettingsError:
        return False
    return username in load_credentials(home())["usernames"]  # a removed login opens nothing


def begin_session(username: str) -> str:
    """After a successful login: a new server-side session bound to this browser session; its token."""
    token = session_store().create(username)
    _remember(username, token)
    return token


def restore_from_cookie(cookies: Mapping[str, str]) -> None:
    """Log this browser session in from the login cookie if it names a live session of a known user.

    Anything else in the cookie (an old signed token, `alg: none`, garbage) leaves it logged out.
    """
    token = cookies.get(COOKIE_NAME)
    username = session_store().resolve(token)
    if username is not None and has_login(username):
        _remember(username, str(token))


def end_session() -> None:
    """Revoke this browser session's server-side session (if any) and forget who was logged in."""
    session_store().revoke(st.session_state.get(SESSION_TOKEN_KEY))
    for key in (USERNAME_KEY, NAME_KEY, SESSION_TOKEN_KEY):
        st.session_state[key] = None
    st.session_state[AUTH_STATUS_KEY] = None


def _remember(username: str, token: str) -> None:
    st.session_state[AUTH_STATUS_KEY] = True
    st.session_state[USERNAME_KEY] = username
    st.session_state[NAME_KEY] = username
    st.session_state[SESSION_TOKEN_KEY] = token


def cookie_secure(environment: Mapping[str, str] | None = None, page_url: str | None = None) -> bool:
    """True when the login cookie must be `Secure`: the page is https, or the setting says so."""
    variables = os.environ if environment is None else environment
    configured = variables.get(COOKIE_SECURE_VARIABLE, "").strip().lower() in TRUE_WORDS
    return configured or (page_url or "").lower().startswith("https://")


def set_login_cookie(token: str) -> None:
    """Ask the browser to keep the session's token (the cookie component of this run sets it)."""
    manager: Any = st.session_state[COOKIE_MANAGER_KEY]
    expires = datetime.now(UTC) + session_store().lifetime
    secure = cookie_secure(page_url=st.context.url)
    manager.set(COOKIE_NAME, token, key="set", expires_at=expires, secure=secure, same_site="strict")


def delete_login_cookie() -> None:
    """Ask the browser to drop the login cookie (the session is already revoked on the server)."""
    manager: Any = st.session_state[COOKIE_MANAGER_KEY]
    try:
        manager.delete(COOKIE_NAME, key="delete")
    except KeyError:
        return  # the component had not reported the browser's cookies yet: it still deletes it


def require_user() -> str:
    """The logged-in username; otherwise shows a message and stops the page here."""
    username = logged_in_username()
    if username is None:
        st.warning(t("session.log_in"))
        st.stop()
    return username


@contextmanager
def user_store(username: str) -> Iterator[Store]:
    """The user's database, opened for this script run only (never created here).

    A file that cannot be opened for writing (read-only, disk full, locked) is opened read-only,
    so the pages keep showing the user's money and position; its writes then fail with the reason.
    """
    path = database_path(home(), username)
    if not path.exists():
        raise SettingsError(f"no database for {username}: create the user with: tradebot user add")
    try:
        store = open_user_store(home(), username)
    except DatabaseUnavailableError as unavailable:
        try:
            store = Store.open_read_only(path)
        except StorageError:
            raise unavailable from None
    with store:
        yield store


def stored_language(username: str) -> Language | None:
    """The language `username` chose on Account & Mode, or None (not chosen, or unreadable now)."""
    try:
        with user_store(username) as store:
            return preferences.stored_language(store)
    except TradebotError:
        return None
