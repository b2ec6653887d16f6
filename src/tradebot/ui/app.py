"""The dashboard's entrypoint: `streamlit run src/tradebot/ui/app.py` (a thin client, it never trades).

Each run renders the cookie component once (a second one would clash), checks the server-side
session of this browser session or else logs in from the login cookie before `st.navigation` (so
reloading a deep link keeps its page), and offers the pages a logged-in user may open. Login stays
registered (hidden) after login and Logout after logout: the cookie component's answer reruns the
page the browser is on, which must still exist or Streamlit shows "Page not found".
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import extra_streamlit_components as stx
import streamlit as st
from streamlit.navigation.page import StreamlitPage

from tradebot.ui.components.sidebar import render_sidebar
from tradebot.ui.i18n import settle_language, t
from tradebot.ui.session import (
    AUTH_STATUS_KEY,
    COOKIE_MANAGER_KEY,
    delete_login_cookie,
    end_session,
    logged_in_username,
    restore_from_cookie,
    stored_language,
)

UI_DIRECTORY = Path(__file__).resolve().parent
LOGIN_FILE = "views/login.py"
# Pages another part of the dashboard provides: (file relative to this one, title key, icon, URL path).
FEATURE_PAGES = (
    ("views/set_config.py", "nav.set_config", "⚙️", "config"),
    ("views/set_conditions.py", "nav.set_conditions", "🎯", "conditions"),
    ("views/audit_viewer.py", "nav.audit", "🔎", "audit"),
    ("views/ai_review.py", "nav.ai_review", "🤖", "ai"),
    ("views/optimize.py", "nav.optimize", "🧪", "optimize"),
    ("views/health.py", "nav.health", "🩺", "health"),
    ("views/notifications.py", "nav.notifications", "🔔", "notifications"),
)


def show_logout() -> None:
    """The Logout page: ends the session on the server and deletes the login cookie."""
    if st.session_state.get(AUTH_STATUS_KEY):
        end_session()
        delete_login_cookie()
    st.title(t("logout.title"))
    st.success(t("logout.done"))
    st.page_link(LOGIN_FILE, label=t("logout.again"), icon="🔐")


def file_page(relative: str, title_key: str, icon: str, url_path: str) -> StreamlitPage | None:
    """A page backed by a file next to this one, or None while that file does not exist."""
    if not (UI_DIRECTORY / relative).exists():
        return None
    return st.Page(relative, title=t(title_key), icon=icon, url_path=url_path)


def login_page(visibility: Literal["visible", "hidden"]) -> StreamlitPage:
    """The Login page at `/`; logged in, it is hidden and forwards to the Dashboard."""
    return st.Page(
        LOGIN_FILE, title=t("nav.login"), icon="🔐", url_path="login", default=True, visibility=visibility
    )


def logout_page(visibility: Literal["visible", "hidden"]) -> StreamlitPage:
    """The Logout page; logged out, it stays registered (hidden) for the rerun that follows a logout."""
    return st.Page(show_logout, title=t("nav.logout"), icon="🚪", url_path="logout", visibility=visibility)


def logged_in_pages() -> list[StreamlitPage]:
    """Dashboard, the feature pages, Account & Mode and Logout; `/` (Login, hidden) opens the Dashboard.

    The Dashboard is not the default page itself: a default page lives at `/`, so a reload of
    `/dashboard` would find no page.
    """
    features = [file_page(*entry) for entry in FEATURE_PAGES]
    return [
        login_page("hidden"),
        st.Page("views/dashboard.py", title=t("nav.dashboard"), icon="📈", url_path="dashboard"),
        *[page for page in features if page is not None],
        st.Page("views/account.py", title=t("nav.account"), icon="🔑", url_path="account"),
        logout_page("visible"),
    ]


def main() -> None:
    """Authenticate, choose the pages, draw the sidebar and run the chosen page."""
    st.set_page_config(page_title="tradebot", page_icon="📈", layout="wide")
    st.session_state[COOKIE_MANAGER_KEY] = stx.CookieManager()
    username = logged_in_username()
    if username is None:
        if st.session_state.get(AUTH_STATUS_KEY):
            end_session()  # revoked, expired, idle or the login removed since this session began
        restore_from_cookie(st.context.cookies)  # before the pages are chosen
        username = logged_in_username()
    if username is None:
        settle_language(None)
        st.navigation([login_page("visible"), logout_page("hidden")]).run()
        return
    settle_language(stored_language(username))
    page = st.navigation(logged_in_pages())
    render_sidebar(username)
    page.run()


main()
