"""A data directory with two users for the dashboard's AppTest tests, and a logged-in session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tradebot.services.credentials import COOKIE_KEY_VARIABLE
from tradebot.services.paths import data_home
from tradebot.services.user_admin import create_user
from tradebot.services.web_sessions import SessionStore

UI_DIR = Path(__file__).resolve().parents[3] / "src" / "tradebot" / "ui"
CREATED = datetime(2026, 3, 1, tzinfo=UTC)
PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}


@pytest.fixture
def ui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`TRADEBOT_HOME` with users alice and bob (TEST accounts, default settings, logins)."""
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path))
    monkeypatch.setenv(COOKIE_KEY_VARIABLE, "test-cookie-key-" + "x" * 32)
    monkeypatch.delenv("TRADEBOT_SECRET_KEY", raising=False)
    for username, password in PASSWORDS.items():
        create_user(tmp_path, username, password, CREATED)
    return tmp_path


def page_test(relative_path: str, username: str | None = "alice", timeout: float = 30.0) -> AppTest:
    """An AppTest of `ui/<relative_path>` with `username` logged in (None: logged out).

    Logged in means what a login leaves: a live server-side session bound to the browser session.
    """
    app = AppTest.from_file(str(UI_DIR / relative_path), default_timeout=timeout)
    if username is not None:
        log_in_session(app, username)
    return app


def log_in_session(app: AppTest, username: str) -> str:
    """Seed `app` with a new server-side session of `username` (in `TRADEBOT_HOME`); its token."""
    token = SessionStore(data_home()).create(username)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = username
    app.session_state["name"] = username
    app.session_state["session_token"] = token
    return token
