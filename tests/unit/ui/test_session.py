"""ui.session: only an authenticated, valid, still-registered username opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import log_in_session
from tradebot.services.credentials import remove_credential
from tradebot.services.web_sessions import SessionStore
from tradebot.ui.session import cookie_secure

SCRIPT = """
import streamlit as st
from tradebot.ui.session import require_user, user_store
name = require_user()
with user_store(name) as store:
    st.write(f"user={name} krw={store.account('TEST').krw_balance}")
"""


def _run(username: object, status: object = True) -> AppTest:
    app = AppTest.from_string(SCRIPT, default_timeout=30)
    if isinstance(username, str) and username in ("alice", "bob"):
        log_in_session(app, username)  # a real session: only `status` or the name makes it invalid
    app.session_state["authentication_status"] = status
    app.session_state["username"] = username
    return app.run()


def test_require_user_logged_in_opens_own_database(ui_home: Path) -> None:
    app = _run("alice")
    assert "user=alice" in app.markdown[0].value


@pytest.mark.parametrize("username", ["../bob", "ALICE", "", None, 7, "mallory"])
def test_require_user_invalid_or_unknown_name_stops_page(ui_home: Path, username: object) -> None:
    app = _run(username)
    assert not app.markdown
    assert app.warning[0].value == "Please log in."


def test_require_user_not_authenticated_stops_page(ui_home: Path) -> None:
    app = _run("alice", status=None)
    assert app.warning[0].value == "Please log in."


def test_require_user_login_removed_stops_page(ui_home: Path) -> None:
    remove_credential(ui_home, "alice")
    assert _run("alice").warning[0].value == "Please log in."


def test_require_user_session_of_another_user_stops_page(ui_home: Path) -> None:
    app = AppTest.from_string(SCRIPT, default_timeout=30)
    log_in_session(app, "bob")
    app.session_state["username"] = "alice"  # bob's session cannot open alice's data
    assert app.run().warning[0].value == "Please log in."


def test_require_user_session_revoked_stops_page(ui_home: Path) -> None:
    app = AppTest.from_string(SCRIPT, default_timeout=30)
    SessionStore(ui_home).revoke(log_in_session(app, "alice"))
    assert app.run().warning[0].value == "Please log in."


@pytest.mark.parametrize(
    ("setting", "url", "secure"),
    [
        ("", "http://127.0.0.1:8501/", False),
        ("", "https://bot.example/", True),
        ("1", "http://127.0.0.1:8501/", True),
        ("true", None, True),
        ("no", "http://127.0.0.1:8501/", False),
    ],
)
def test_cookie_secure_behind_tls_or_when_configured(setting: str, url: str | None, secure: bool) -> None:
    assert cookie_secure({"TRADEBOT_COOKIE_SECURE": setting}, url) is secure
