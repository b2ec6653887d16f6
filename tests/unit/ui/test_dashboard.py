"""The Dashboard page (AppTest, seeded session) and the number formats it uses."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import (
    ago,
    buy_evaluation,
    candle_start,
    open_position,
    opened,
    record_trade,
    rising_candles,
    save_candles,
    save_evaluations,
    set_account,
    set_engine,
)
from tradebot.core.params import StrategyParams
from tradebot.services.paths import database_path
from tradebot.services.records import CommandRequest
from tradebot.ui.components.metrics import escape_markdown, format_age, format_krw, format_percent

PAGE = "views/dashboard.py"


def run_page(username: str | None = "alice") -> AppTest:
    app = page_test(PAGE, username).run()
    assert not app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    return app.run()


def texts(app: AppTest, kind: str) -> str:
    return "\n".join(str(element.value) for element in getattr(app, kind))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234567.5"), "1,234,568 KRW"),
        (Decimal("-98765"), "-98,765 KRW"),
        (Decimal("0.01234"), "0.0123 KRW"),
        (Decimal(0), "0 KRW"),
        (None, "—"),
    ],
)
def test_format_krw_thousands_separators_small_amounts_keep_decimals(
    value: Decimal | None, expected: str
) -> None:
    assert format_krw(value) == expected


def test_formats_signed_profit_percent_age_and_escaped_reason() -> None:
    assert format_krw(Decimal(1500), signed=True) == "+1,500 KRW"
    assert format_krw(Decimal("-0.5"), unit=False) == "-0.5"
    assert format_percent(Decimal("0.0512")) == "+5.12%"
    assert format_age(timedelta(seconds=185)) == "3 min ago"
    assert escape_markdown("golden_cross *failed*") == r"golden\_cross \*failed\*"


def test_dashboard_logged_out_asks_to_log_in_and_shows_nothing(ui_home: Path) -> None:
    app = run_page(None)
    assert app.warning[0].value == "Please log in."
    assert not app.metric
    assert not app.button


def test_dashboard_shows_only_the_logged_in_users_money(ui_home: Path) -> None:
    set_account(ui_home, "bob", Decimal(7_777_777), Decimal(1_000_000))
    app = page_test(PAGE, "alice")
    app.query_params["user"] = "bob"  # nothing a browser sends selects whose data is shown
    app.run()
    assert metrics(app)["KRW (TEST)"] == "1,000,000"
    assert "7,777,777" not in str(metrics(app))


def test_dashboard_running_engine_shows_state_mode_and_heartbeat(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "running", heartbeat_at=ago(3))
    app = run_page()
    banner = app.success[0].value
    assert "Engine **running** · mode **TEST** · heartbeat" in banner
    assert "s ago" in banner


def test_dashboard_failed_engine_shows_the_reason(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "failed", heartbeat_at=ago(600), last_error="crashed 4 times: Timeout")
    app = run_page()
    assert "Engine **failed**" in app.error[0].value
    assert "crashed 4 times: Timeout" in app.error[0].value


def test_dashboard_open_position_shows_value_entry_profit_and_chart(ui_home: Path) -> None:
    save_candles(ui_home, "alice", rising_candles(60))  # last close 100,590,000
    set_account(ui_home, "alice", Decimal(899_950), Decimal(1_000_000))
    open_position(ui_home, "alice", Decimal("0.001"), Decimal(100_000_000))
    record_trade(ui_home, "alice", "ask", Decimal(99_000_000), candle_start(10), profit=Decimal(-1_100))
    app = run_page()
    shown = metrics(app)
    assert shown["Coin volume BTC"] == "0.001"
    assert shown["Position value (KRW)"] == "100,590"
    assert shown["Entry price (KRW)"] == "100,000,000"
    assert shown["Unrealised profit (KRW)"] == "+490"  # 100,590 - 50.3 fee - 100,050 cost with fee
    assert shown["Realised profit (KRW)"] == "-1,100"
    assert shown["Equity (KRW)"] == "1,000,540"
    assert shown["Return since start"] == "+0.05%"
    assert app.get("plotly_chart")  # drawn (AppTest cannot look inside a plotly chart)
    assert "Recent orders" in texts(app, "subheader")
    orders = next(frame.value for frame in app.dataframe if "side" in frame.value.columns)
    assert orders["side"].tolist() == ["sell"]


def test_dashboard_latest_signal_decision_and_reason(ui_home: Path) -> None:
    reason = "no entry: golden_cross, macd_positive failed"
    save_evaluations(ui_home, "alice", [buy_evaluation(candle_start(5), reason, ago(60))], [])
    app = run_page()
    assert "**HOLD** · buy evaluation" in texts(app, "markdown")
    assert escape_markdown(reason) in texts(app, "caption")


def test_dashboard_start_button_queues_test_start_and_says_when(ui_home: Path) -> None:
    app = click(run_page(), "▶️ Start (TEST)")
    assert "within one cycle (~5 s)" in app.success[0].value
    with opened(ui_home, "alice") as store:
        [command] = store.recent_commands()
    assert (command.kind, command.args, command.requested_by) == ("start", {"mode": "TEST"}, "alice")
    assert app.dataframe[0].value["status"].tolist() == ["pending"]


def test_dashboard_force_buy_without_confirmation_sends_nothing(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "running")
    app = run_page()
    app.text_input(key="force_buy_reason").input("breakout")
    app = click(app, "Force buy")
    assert "Tick the confirmation" in app.warning[0].value
    with opened(ui_home, "alice") as store:
        assert store.recent_commands() == []


def test_dashboard_force_buy_without_reason_refused_with_message(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "running")
    app = run_page()
    app.checkbox(key="force_buy_confirmed").check()
    app = click(app, "Force buy")
    assert "force buy refused: force_buy needs a reason" in app.error[0].value
    with opened(ui_home, "alice") as store:
        assert store.recent_commands() == []


def test_dashboard_force_sell_engine_stopped_refused_not_queued(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "stopped")
    app = run_page()
    app.text_input(key="force_sell_reason").input("news")
    app.checkbox(key="force_sell_confirmed").check()
    app = click(app, "Force sell")
    assert "the engine is not trading for alice right now" in app.error[0].value
    with opened(ui_home, "alice") as store:
        assert store.recent_commands() == []


def test_dashboard_force_buy_confirmed_with_reason_queued_for_engine(ui_home: Path) -> None:
    set_engine(ui_home, "alice", "running")
    app = run_page()
    app.text_input(key="force_buy_reason").input("  breakout on volume ")
    app.checkbox(key="force_buy_confirmed").check()
    app = click(app, "Force buy")
    assert "Sent force buy" in app.success[0].value
    with opened(ui_home, "alice") as store:
        [command] = store.recent_commands()
    assert (command.kind, command.args) == ("force_buy", {"reason": "breakout on volume"})


def test_dashboard_command_unanswered_for_long_warns_engine_may_be_down(ui_home: Path) -> None:
    request = CommandRequest(kind="stop", requested_by="alice", requested_at=ago(60))
    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        transaction.submit_command(request)
    app = run_page()
    assert any("waited more than 15 s" in warning.value for warning in app.warning)


CONTROLS = ["▶️ Start (TEST)", "⏹️ Stop", "⏸️ Pause", "⏯️ Resume", "Force buy", "Force sell"]


def _holding_alice(home: Path) -> None:
    save_candles(home, "alice", rising_candles(60))
    set_account(home, "alice", Decimal(899_950), Decimal(1_000_000))
    open_position(home, "alice", Decimal("0.001"), Decimal(100_000_000))


def _assert_controls_and_money(app: AppTest) -> None:
    assert not app.exception
    assert [button.label for button in app.button] == CONTROLS
    shown = metrics(app)
    assert shown["Coin volume BTC"] == "0.001"
    assert shown["Entry price (KRW)"] == "100,000,000"
    assert shown["KRW (TEST)"] == "899,950"


@pytest.mark.parametrize(
    "content",
    ['{"market": "KRW-BTC", ', '{"market": "KRW-BTC", "take_profit": -5}', '{"unknown_key": 1}', ""],
)
def test_dashboard_invalid_params_file_keeps_controls_position_and_balance_with_error(
    ui_home: Path, content: str
) -> None:
    _holding_alice(ui_home)
    (ui_home / "alice_latest_params.json").write_text(content)
    app = run_page()
    _assert_controls_and_money(app)
    assert app.error[0].value.startswith("Your settings file cannot be used:")
    app = click(app, "⏹️ Stop")
    assert "Sent stop (command #1)" in app.success[0].value
    with opened(ui_home, "alice") as store:
        assert [command.kind for command in store.recent_commands()] == ["stop"]


def test_dashboard_invalid_params_file_shows_settings_last_recorded(ui_home: Path) -> None:
    _holding_alice(ui_home)
    with opened(ui_home, "alice") as store, store.transaction() as transaction:
        version = transaction.record_settings(
            StrategyParams(market="KRW-ETH"), saved_at=ago(60), saved_by="engine"
        )
    (ui_home / "alice_latest_params.json").write_text("[]")
    app = run_page()
    assert f"params version {version}" in app.error[0].value
    assert app.caption[0].value.startswith("KRW-ETH")
    _assert_controls_and_money(app)


@pytest.fixture
def read_only_database(ui_home: Path) -> Iterator[Path]:
    """alice's database made immutable (`chattr +i`: read-only even for root), restored afterwards."""
    _holding_alice(ui_home)
    path = database_path(ui_home, "alice")
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed")
    made_immutable = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)  # noqa: S603 - the test's own file
    if made_immutable.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made_immutable.stderr!r}")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)  # noqa: S603 - the test's own file


def test_dashboard_read_only_database_keeps_controls_and_refuses_commands_with_error(
    read_only_database: Path,
) -> None:
    app = run_page()
    _assert_controls_and_money(app)
    app = click(app, "⏹️ Stop")
    assert not app.exception
    assert any(error.value.startswith("stop refused:") for error in app.error)
