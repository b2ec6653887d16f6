"""ui.session: only an authenticated, valid, still-registered username opens anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tradebot.services.credentials import remove_credential

SCRIPT = """
import streamlit as st
from tradebot.ui.session import require_user, user_store
name = require_user()
with user_store(name) as store:
    st.write(f"user={name} krw={store.account('TEST').krw_balance}")
"""


def _run(username: object, status: object = True) -> AppTest:
    app = AppTest.from_string(SCRIPT, default_timeout=30)
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
