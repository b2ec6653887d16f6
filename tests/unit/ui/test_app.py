"""The dashboard's entrypoint (AppTest): login, the pages offered, server-side sessions, logout.

Cookie re-authentication cannot be tested here (AppTest has no cookies); the browser tests do that.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from tests.unit.ui.conftest import PASSWORDS, UI_DIR, page_test
from tradebot.services.login_guard import FAILURES_FILE
from tradebot.services.user_admin import change_password
from tradebot.services.web_sessions import IDLE_TIMEOUT, SESSIONS_FILE, SessionStore

APP = "app.py"
LOGGED_IN_PAGES = [  # (title, icon, URL path, file or None for a function page)
    ("Login", "🔐", "", "views/login.py"),
    ("Dashboard", "📈", "dashboard", "views/dashboard.py"),
    ("Set Config", "⚙️", "config", "views/set_config.py"),
    ("Set Buy/Sell Conditions", "🎯", "conditions", "views/set_conditions.py"),
    ("Audit Viewer", "🔎", "audit", "views/audit_viewer.py"),
    ("AI Review", "🤖", "ai", "views/ai_review.py"),
    ("Optimize", "🧪", "optimize", "views/optimize.py"),
    ("Health", "🩺", "health", "views/health.py"),
    ("Notifications", "🔔", "notifications", "views/notifications.py"),
    ("Account & Mode", "🔑", "account", "views/account.py"),
    ("Logout", "🚪", "logout", None),
]


def registered(app: AppTest) -> list[tuple[str, str, str, str | None]]:
    """The pages `st.navigation` registered in the last run (AppTest keeps them privately)."""
    pages = app._registered_pages.values()
    return [
        (
            page["page_name"],
            page["icon"],
            page["url_pathname"],
            str(Path(page["script_path"]).relative_to(UI_DIR)) if page["script_path"] else None,
        )
        for page in pages
    ]


def log_in(app: AppTest, username: str, password: str) -> AppTest:
    app.text_input[0].input(username)
    app.text_input[1].input(password)
    app.button[0].click()
    return app.run()


def test_app_logged_out_shows_login_form_and_no_dashboard(ui_home: Path) -> None:
    app = page_test(APP, username=None).run()
    assert not app.exception
    assert [field.label for field in app.text_input] == ["Username", "Password"]
    assert app.info[0].value == "Please enter your username and password"
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]  # Logout hidden
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("views/dashboard.py")


def test_app_wrong_password_refused_stays_logged_out(ui_home: Path) -> None:
    app = log_in(page_test(APP, username=None).run(), "alice", "wrong-password-1")
    assert app.error[0].value == "Username/password is incorrect"
    assert app.session_state["authentication_status"] is False
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]


def test_app_login_form_then_dashboard_of_that_user(ui_home: Path) -> None:
    app = log_in(page_test(APP, username=None).run(), "bob", PASSWORDS["bob"])
    assert app.success[0].value == "Logged in as bob: opening the Dashboard…"
    app.run()  # the rerun the cookie component starts in a browser
    assert not app.exception
    assert app.title[0].value == "📈 Dashboard"
    assert app.sidebar.text[0].value == "👤 bob"


def test_app_logged_in_offers_every_page_with_emoji_icons_and_url_paths(ui_home: Path) -> None:
    app = page_test(APP).run()
    expected = [page for page in LOGGED_IN_PAGES if page[3] is None or (UI_DIR / page[3]).exists()]
    assert registered(app) == expected
    assert app.title[0].value == "📈 Dashboard"  # `/` forwards to the Dashboard
    assert [caption.value for caption in app.sidebar.caption][:2] == [
        "Mode: **TEST**",
        "Engine: ⚪ never started",
    ]
    app.switch_page("views/account.py").run()
    assert app.title[0].value == "🔑 Account & Mode"


def test_app_password_changed_elsewhere_open_session_shows_login_at_next_run(ui_home: Path) -> None:
    app = page_test(APP).run()
    assert app.title[0].value == "📈 Dashboard"
    assert change_password(ui_home, "alice", "alice-new-password") == 1
    app.run()
    assert not app.exception
    assert [field.label for field in app.text_input] == ["Username", "Password"]
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]
    assert app.session_state["authentication_status"] is None


def test_app_session_idle_too_long_shows_login(ui_home: Path) -> None:
    app = page_test(APP)
    sessions = json.loads((ui_home / SESSIONS_FILE).read_text())
    idle_since = (datetime.now(UTC) - IDLE_TIMEOUT - timedelta(minutes=1)).isoformat()
    for entry in sessions.values():
        entry["last_seen"] = idle_since
    (ui_home / SESSIONS_FILE).write_text(json.dumps(sessions))
    app.run()
    assert not app.exception
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]


def test_app_logged_in_state_without_server_session_opens_nothing(ui_home: Path) -> None:
    app = page_test(APP, username=None)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = "alice"
    app.session_state["session_token"] = "A" * 43  # well-formed, but no such session
    app.run()
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]
    assert app.session_state["username"] is None


def test_app_login_form_starts_server_session_bound_to_the_user(ui_home: Path) -> None:
    app = log_in(page_test(APP, username=None).run(), "Alice ", PASSWORDS["alice"])
    assert app.success[0].value == "Logged in as alice: opening the Dashboard…"
    token = app.session_state["session_token"]
    assert SessionStore(ui_home).resolve(token) == "alice"
    assert token not in (ui_home / SESSIONS_FILE).read_text()  # only its digest is stored


def test_app_password_with_surrounding_space_refused(ui_home: Path) -> None:
    app = log_in(page_test(APP, username=None).run(), "alice", PASSWORDS["alice"] + " ")
    assert app.error[0].value == "Username/password is incorrect"


def test_app_logout_page_ends_session_and_links_back_to_login(ui_home: Path) -> None:
    app = page_test(APP).run()
    token = app.session_state["session_token"]
    app._page_hash = calc_hash("logout")  # AppTest switches only to file pages; Logout is a function
    app.run()
    assert app.success[0].value == "You are logged out."
    assert app.session_state["authentication_status"] is None
    assert app.session_state["username"] is None
    assert SessionStore(ui_home).resolve(token) is None  # revoked on the server, not only forgotten
    app.run()
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]


def test_app_five_wrong_passwords_lock_the_login_even_with_the_right_password(ui_home: Path) -> None:
    app = page_test(APP, username=None).run()
    for _ in range(4):
        app = log_in(app, "alice", "wrong-password-1")
        assert app.error[0].value == "Username/password is incorrect"
    app = log_in(app, "alice", "wrong-password-1")
    locked = "Too many failed logins for alice: login is locked for 15 more minutes"
    assert app.error[0].value.startswith(locked)
    app = log_in(app, "alice", PASSWORDS["alice"])
    assert not app.exception
    assert app.error[0].value.startswith(locked)
    assert app.session_state["authentication_status"] is not True
    assert [page[0] for page in registered(app)] == ["Login", "Logout"]
    app = log_in(app, "bob", PASSWORDS["bob"])  # another user is not locked
    assert app.success[0].value == "Logged in as bob: opening the Dashboard…"


def test_app_expired_lock_lets_the_right_password_in(ui_home: Path) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    (ui_home / FAILURES_FILE).write_text(json.dumps({"alice": {"failures": [], "locked_until": past}}))
    app = log_in(page_test(APP, username=None).run(), "alice", PASSWORDS["alice"])
    assert app.success[0].value == "Logged in as alice: opening the Dashboard…"
    assert json.loads((ui_home / FAILURES_FILE).read_text()) == {}
