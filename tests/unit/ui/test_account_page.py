"""Account & Mode page: keys stored encrypted, shown masked; LIVE only after balance and confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import (
    SIMULATOR_ACCESS_KEY,
    SIMULATOR_KRW,
    SIMULATOR_SECRET_KEY,
    opened,
    upbit_simulator,
)
from tradebot.services.records import CommandRequest, Position
from tradebot.services.user_admin import UpbitKeys, save_keys
from tradebot.ui.components.metrics import format_krw

PAGE = "views/account.py"
EXCHANGE_URL_VARIABLE = "TRADEBOT_EXCHANGE_URL"
UNKNOWN_SECRET = "unknown0secret0key0000000000000000000000"  # noqa: S105 - the simulator does not know it


@pytest.fixture
def simulator_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A running Upbit simulator, and the page pointed at it."""
    with upbit_simulator() as server:
        monkeypatch.setenv(EXCHANGE_URL_VARIABLE, server.base_url)
        yield server.base_url


def store_keys(home: Path, access: str = SIMULATOR_ACCESS_KEY, secret: str = SIMULATOR_SECRET_KEY) -> None:
    save_keys(home, "alice", UpbitKeys(access, secret), datetime.now(UTC))


def run_page() -> AppTest:
    app = page_test(PAGE).run()
    assert not app.exception
    return app


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    return app.run()


def button(app: AppTest, label: str) -> Any:
    return next(button for button in app.button if button.label == label)


def everything_shown(app: AppTest) -> str:
    kinds = ("markdown", "success", "info", "warning", "error", "caption", "metric", "text")
    return "\n".join(str(getattr(element, "value", "")) for kind in kinds for element in getattr(app, kind))


def choose_live(app: AppTest) -> AppTest:
    app.radio[0].set_value("LIVE")
    return app.run()


def test_account_save_keys_stored_encrypted_shown_masked_never_echoed(ui_home: Path) -> None:
    app = run_page()
    assert "No keys stored yet" in app.info[0].value
    app.text_input[0].input("AbCdAccessKeyValue")
    app.text_input[1].input("TopSecretValue1234567890")
    app = click(app, "Save keys")
    assert "Keys saved (encrypted)" in app.success[-1].value
    assert "`AbCd****`" in app.success[0].value
    assert "TopSecretValue" not in everything_shown(app)
    assert "AccessKeyValue" not in everything_shown(app)
    with opened(ui_home, "alice") as store:
        stored = store.api_keys("alice")
    assert stored is not None
    assert b"TopSecretValue" not in stored.secret_key_ciphertext


def test_account_save_keys_secret_missing_refused(ui_home: Path) -> None:
    app = run_page()
    app.text_input[0].input("AbCdAccessKeyValue")
    app = click(app, "Save keys")
    assert app.error[0].value == "Enter both the access key and the secret key."
    with opened(ui_home, "alice") as store:
        assert store.api_keys("alice") is None


def test_account_live_without_keys_asks_for_keys_and_offers_no_start(ui_home: Path) -> None:
    app = choose_live(run_page())
    assert "Save your Upbit API keys" in app.warning[0].value
    assert all(item.label != "Start LIVE" for item in app.button)


def test_account_live_start_needs_balance_and_confirmation_then_sends_confirmed_live(
    ui_home: Path, simulator_url: str
) -> None:
    store_keys(ui_home)
    app = choose_live(run_page())
    assert button(app, "Start LIVE").disabled
    app = click(app, "Check Upbit KRW balance")
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Upbit KRW balance (available)"] == format_krw(SIMULATOR_KRW) == "2,345,678 KRW"
    assert button(app, "Start LIVE").disabled  # not confirmed yet
    app.checkbox(key="live_confirmed").check()
    app = click(app.run(), "Start LIVE")
    assert "Sent start LIVE (command #1)" in app.success[-1].value
    with opened(ui_home, "alice") as store:
        [command] = store.recent_commands()
    assert (command.kind, command.args, command.live_confirmed) == ("start", {"mode": "LIVE"}, True)


def test_account_live_wrong_keys_upbit_error_shown_clearly(ui_home: Path, simulator_url: str) -> None:
    store_keys(ui_home, access="unknown-access-key", secret=UNKNOWN_SECRET)
    app = click(choose_live(run_page()), "Check Upbit KRW balance")
    message = app.error[0].value
    assert message.startswith(f"Could not read your balance from Upbit ({simulator_url}):")
    assert "unknown0secret" not in message
    assert "Upbit KRW balance (available)" not in [metric.label for metric in app.metric]


def test_account_test_mode_while_running_switches_mode(ui_home: Path) -> None:
    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        command_id = transaction.submit_command(
            CommandRequest(
                kind="start", requested_by="alice", requested_at=datetime.now(UTC), args={"mode": "TEST"}
            )
        )
        transaction.claim_next_command(engine_id="engine", claimed_at=datetime.now(UTC))
        transaction.acknowledge_command(
            command_id, status="done", message="running in TEST", acknowledged_at=datetime.now(UTC)
        )
    app = click(run_page(), "Start TEST")
    assert "Sent set mode TEST" in app.success[-1].value
    with opened(ui_home, "alice") as store:
        newest = store.recent_commands()[0]
    assert (newest.kind, newest.args) == ("set_mode", {"mode": "TEST"})


def _adopt(home: Path, market: str) -> None:
    position = Position(
        mode="LIVE", market=market, volume=Decimal("0.2"), entry_price=None, peak_price=None,
        entry_candle_start=None, bars_held=0, updated_at=datetime.now(UTC), origin="adopted",
    )  # fmt: skip
    with opened(home, "alice") as store, store.transaction() as transaction:
        transaction.set_position(position)


def test_account_adopted_position_shown_and_confirm_needs_entry_then_release(ui_home: Path) -> None:
    _adopt(ui_home, "KRW-BTC")
    _adopt(ui_home, "KRW-ETH")
    app = run_page()
    assert "Positions waiting for your decision" in [item.value for item in app.subheader]
    assert "KRW-BTC**: 0.2 held, entry price unknown" in everything_shown(app)
    app = click(app, "Confirm: the bot's (KRW-BTC)")
    assert "entry price is unknown" in app.error[-1].value
    next(item for item in app.text_input if item.key == "entry_KRW-BTC").input("90,000,000")
    app = click(app, "Confirm: the bot's (KRW-BTC)")
    assert not app.exception
    app = click(app, "Release: mine (KRW-ETH)")
    with opened(ui_home, "alice") as store:
        positions = [(item.market, item.origin, item.entry_price) for item in store.positions("LIVE")]
        decisions = [(item.market, item.decision, item.decided_by) for item in store.position_decisions()]
    assert positions == [("KRW-BTC", "bot", Decimal(90_000_000))]
    assert decisions == [("KRW-BTC", "confirm", "alice"), ("KRW-ETH", "release", "alice")]
    assert "Positions waiting for your decision" not in [item.value for item in run_page().subheader]


def test_account_without_adopted_position_shows_no_decision_section(ui_home: Path) -> None:
    app = run_page()
    assert "Positions waiting for your decision" not in [item.value for item in app.subheader]
