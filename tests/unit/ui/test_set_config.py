"""Set Config page: a form built from StrategyParams; errors under their field; atomic save + version."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Error

from tests.unit.ui.conftest import page_test
from tradebot.core.params import StrategyParams
from tradebot.services.settings_store import load_params, save_params
from tradebot.services.storage import open_user_store
from tradebot.services.users import params_path

PAGE = "views/set_config.py"


def error_under(app: AppTest, key: str) -> str | None:
    """The error shown right after the input `key`, if any."""
    for column in app.columns:
        children = list(column.children.values())
        for index, child in enumerate(children):
            if getattr(child, "key", None) == key:
                following = children[index + 1] if index + 1 < len(children) else None
                return str(following.value) if isinstance(following, Error) else None
    raise AssertionError(f"no input {key}")


def latest_params_version(home: Path, username: str = "alice") -> int | None:
    with open_user_store(home, username) as store:
        latest = store.latest_settings("params")
    return None if latest is None else latest.version


def test_set_config_shows_every_param_with_saved_value_and_help(ui_home: Path) -> None:
    save_params(params_path(ui_home, "alice"), StrategyParams(market="KRW-ETH", take_profit=0.025))
    app = page_test(PAGE).run()
    assert not app.exception
    inputs = {
        widget.key: widget
        for kind in ("number_input", "selectbox", "text_input", "multiselect")
        for widget in app.get(kind)
    }
    assert set(inputs) == {f"config_{name}" for name in StrategyParams.model_fields}
    assert inputs["config_market"].value == "KRW-ETH"
    assert inputs["config_take_profit"].value == 0.025
    assert inputs["config_interval"].options == ["minute1", "minute3", "minute5", "minute10", "minute15",
                                                 "minute30", "minute60", "minute240", "day"]  # fmt: skip
    assert inputs["config_fast_period"].help == StrategyParams.model_fields["fast_period"].description
    assert inputs["config_safeguards"].value == []  # no caution flag allowed by default


def test_set_config_allowed_caution_flag_is_saved_in_safeguards(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    app.multiselect(key="config_safeguards").select("PRICE_FLUCTUATIONS")
    app.button(key="config_save").click().run()
    assert not app.exception
    saved = load_params(params_path(ui_home, "alice"))
    assert saved.safeguards.allowed_caution_flags == ("PRICE_FLUCTUATIONS",)


def test_set_config_fast_not_below_slow_shows_error_under_slow_and_saves_nothing(ui_home: Path) -> None:
    path = params_path(ui_home, "alice")
    before = path.read_bytes()
    app = page_test(PAGE).run()
    app.number_input(key="config_fast_period").set_value(30)
    app.button(key="config_save").click().run()
    assert not app.exception
    assert "must be greater than fast_period" in (error_under(app, "config_slow_period") or "")
    assert error_under(app, "config_fast_period") is None
    assert path.read_bytes() == before
    assert latest_params_version(ui_home) is None


def test_set_config_out_of_range_value_shows_error_under_that_field(ui_home: Path) -> None:
    path = params_path(ui_home, "alice")
    before = path.read_bytes()
    app = page_test(PAGE).run()
    app.number_input(key="config_stop_loss").set_value(0.0)
    app.text_input(key="config_market").input("BTC")
    app.button(key="config_save").click().run()
    assert error_under(app, "config_stop_loss") == "Input should be greater than 0"
    assert "not a KRW market code" in (error_under(app, "config_market") or "")
    assert "Not saved" in app.error[0].value
    assert path.read_bytes() == before


def test_set_config_valid_save_writes_file_and_records_the_engines_version(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    app.number_input(key="config_take_profit").set_value(0.05)
    app.button(key="config_save").click().run()
    saved = load_params(params_path(ui_home, "alice"))
    assert saved.take_profit == 0.05
    version = latest_params_version(ui_home)
    message = app.success[0].value
    assert f"Saved as params version {version}." in message
    assert "next closed candle (within one minute15 candle)" in message
    assert "restarts" not in message
    # The engine records what it reads from the file: the same content must be the same version.
    with open_user_store(ui_home, "alice") as store, store.transaction() as transaction:
        engine_version = transaction.record_settings(saved, saved_at=datetime.now(UTC), saved_by="engine")
    assert engine_version == version


def test_set_config_market_and_period_change_says_it_applies_on_restart(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    app.text_input(key="config_market").input("krw-eth")
    app.number_input(key="config_fast_period").set_value(10)
    app.button(key="config_save").click().run()
    message = app.success[0].value
    assert "Only when the loop restarts" in message
    assert "market/interval KRW-BTC minute15 → KRW-ETH minute15" in message
    assert "MACD periods (fast/slow/signal) 12/26/9 → 10/26/9" in message
    assert app.text_input(key="config_market").value == "KRW-ETH"  # shown as stored


def test_set_config_saves_only_the_logged_in_users_file(ui_home: Path) -> None:
    alice_before = params_path(ui_home, "alice").read_bytes()
    app = page_test(PAGE, username="bob").run()
    app.number_input(key="config_order_ratio").set_value(0.2)
    app.button(key="config_save").click().run()
    assert load_params(params_path(ui_home, "bob")).order_ratio == 0.2
    assert params_path(ui_home, "alice").read_bytes() == alice_before
    assert latest_params_version(ui_home, "alice") is None


def test_set_config_unreadable_file_is_a_clear_error_with_defaults(ui_home: Path) -> None:
    params_path(ui_home, "alice").write_text("{not json", encoding="utf-8")
    app = page_test(PAGE).run()
    assert not app.exception
    assert "cannot be read" in app.error[0].value
    assert app.number_input(key="config_slow_period").value == StrategyParams().slow_period


def test_set_config_reload_discards_unsaved_edits_and_errors(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    app.number_input(key="config_fast_period").set_value(30)
    app.button(key="config_save").click().run()
    app.button(key="config_reload").click().run()
    assert app.number_input(key="config_fast_period").value == StrategyParams().fast_period
    assert error_under(app, "config_slow_period") is None


PROTECTION_KEYS = ("cooldown_bars", "max_consecutive_losses", "loss_pause_bars", "max_daily_loss")


def test_set_config_shows_the_protections_with_help_and_saves_them(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    for key in PROTECTION_KEYS:
        widget = app.number_input(key=f"config_{key}")
        assert widget.value == 0
        assert widget.help == StrategyParams.model_fields[key].description
    app.number_input(key="config_max_consecutive_losses").set_value(3)
    app.button(key="config_save").click().run()
    assert "loss_pause_bars must be at least 1" in (error_under(app, "config_loss_pause_bars") or "")
    app.number_input(key="config_loss_pause_bars").set_value(12)
    app.number_input(key="config_max_daily_loss").set_value(0.05)
    app.button(key="config_save").click().run()
    saved = load_params(params_path(ui_home, "alice"))
    assert (saved.max_consecutive_losses, saved.loss_pause_bars, saved.max_daily_loss) == (3, 12, 0.05)
