"""The whole product in a real browser: simulator, `tradebot engine` and `streamlit run` as in the demo.

Headless Chromium comes from Debian (`apt-get install chromium`; `.ci/run` installs it) and is
driven by Playwright with `executable_path` (Playwright's own browser download is unreachable
offline). Without a browser these tests are skipped, unless TRADEBOT_REQUIRE_BROWSER=1 (CI), where
a missing browser fails them. The waits follow docs in ../shared/notes/BROWSER_TESTS.md: wait for
the app to settle (connected, script idle, the cookie component mounted, 500 ms quiet) before any
click that reruns the script, or a fast click can be swallowed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tradebot.cli.launch import (
    Child,
    child_process,
    dashboard_command_line,
    engine_command_line,
    free_port,
    wait_healthy,
)
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.services.credentials import COOKIE_KEY_VARIABLE
from tradebot.services.records import CommandRequest
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
PASSWORDS = {"alice": "alice-e2e-password", "bob": "bob-e2e-password"}
MARKET = "KRW-BTC"
SPEED = 20.0  # a minute candle closes every 3 s
COOKIE = "tradebot_auth"
COOKIE_MANAGER = 'iframe[title="extra_streamlit_components.CookieManager.cookie_manager"]'
TRACK_SCRIPT_STATE = """
window.__stLastChange = performance.now();
new MutationObserver(() => { window.__stLastChange = performance.now(); })
  .observe(document, {subtree: true, childList: true, attributes: true});
"""


def chromium_path() -> str | None:
    """Debian's chromium, or the one CHROMIUM_PATH names."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass(frozen=True)
class Stack:
    """The running product: the dashboard's URL, the data directory and the simulator."""

    url: str
    home: Path
    simulator: SimulatorServer
    engine: Child
    dashboard: Child


def _prepare_user(home: Path, username: str, start: bool) -> None:
    create_user(home, username, PASSWORDS[username], datetime.now(UTC))
    path = params_path(home, username)
    params = json.loads(path.read_text())
    params.update(market=MARKET, interval="minute1", warmup_bars=60)
    path.write_text(json.dumps(params))
    path = conditions_path(home, username)
    conditions = json.loads(path.read_text())
    conditions["sell"] = dict.fromkeys(conditions["sell"], False)  # a forced position stays open
    path.write_text(json.dumps(conditions))
    if start:
        with open_user_store(home, username) as store, store.transaction() as transaction:
            request = CommandRequest(kind="start", requested_by="e2e", requested_at=datetime.now(UTC))
            transaction.submit_command(request)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Simulator (in this process), engine and dashboard (child processes); alice trading."""
    browser = chromium_path()
    if browser is None:
        if os.environ.get("TRADEBOT_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium found: apt-get install -y chromium (or set CHROMIUM_PATH)")
        pytest.skip("no chromium browser installed (apt-get install -y chromium)")
    home = tmp_path_factory.mktemp("e2e-home")
    os.environ[COOKIE_KEY_VARIABLE] = "e2e-cookie-key-" + "k" * 40
    for username in PASSWORDS:
        _prepare_user(home, username, start=username == "alice")
    config = build_config(port=0, markets=[MARKET], speed=SPEED, start=datetime.now(UTC), history_days=1)
    with ExitStack() as resources:
        simulator = SimulatorServer(config).start()
        resources.callback(simulator.stop)
        url = str(simulator.base_url)
        engine = resources.enter_context(child_process("engine", engine_command_line(url, 1.0), home))
        port = free_port()
        dashboard = resources.enter_context(
            child_process("dashboard", dashboard_command_line(port), home, url)
        )
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", dashboard)
        yield Stack(f"http://127.0.0.1:{port}", home, simulator, engine, dashboard)


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    """pytest-playwright's base URL: `page.goto("/")` opens the dashboard."""
    return stack.url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], stack: Stack) -> dict[str, Any]:
    """Debian's chromium instead of Playwright's download."""
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A tall window, so each screenshot shows the whole page (Streamlit scrolls inside the app)."""
    return {**browser_context_args, "viewport": {"width": 1400, "height": 2000}}


@pytest.fixture
def context(context: BrowserContext) -> BrowserContext:
    """Every page records when its DOM last changed (for `wait_app_settled`)."""
    context.add_init_script(TRACK_SCRIPT_STATE)
    context.set_default_timeout(30_000)
    return context


def wait_app_settled(page: Page, quiet_ms: int = 500, timeout: int = 30_000) -> None:
    """Connected, the script idle, the cookie component mounted and the DOM quiet for `quiet_ms`."""
    app = page.locator('[data-testid="stApp"]')
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout)
    if page.locator(COOKIE_MANAGER).count():
        frame = page.frame_locator(COOKIE_MANAGER).first
        frame.locator("#root > *").first.wait_for(state="attached", timeout=timeout)
    page.wait_for_function(
        """(quiet) => { const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') === 'notRunning'
                && performance.now() - window.__stLastChange > quiet; }""",
        arg=quiet_ms,
        timeout=timeout,
    )


def screenshot(page: Page, name: str) -> None:
    """Save a full-page screenshot as a test artifact (test-results/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, username: str, password: str) -> None:
    """Open the login page and submit the form (does not wait for the outcome)."""
    page.goto("/")
    wait_app_settled(page)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Login").click()


def logged_in(page: Page, username: str) -> None:
    """Log in as `username` and wait for the Dashboard and the login cookie."""
    log_in(page, username, PASSWORDS[username])
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible(timeout=30_000)
    page.wait_for_function(f"() => document.cookie.includes('{COOKIE}=')", timeout=20_000)
    wait_app_settled(page)
