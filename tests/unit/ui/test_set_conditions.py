"""Set Buy/Sell Conditions page: a toggle per TRADING_RULES key; an empty buy side is refused."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ui.conftest import page_test
from tradebot.core.params import BUY_CONDITION_KEYS, SELL_CONDITION_KEYS, BuyConditions, SellConditions
from tradebot.services.settings_store import load_conditions
from tradebot.services.storage import open_user_store
from tradebot.services.users import conditions_path

PAGE = "views/set_conditions.py"


def latest_conditions_version(home: Path) -> int | None:
    with open_user_store(home, "alice") as store:
        latest = store.latest_settings("conditions")
    return None if latest is None else latest.version


def test_set_conditions_has_a_toggle_and_explanation_for_every_rule_key(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    assert not app.exception
    keys = [toggle.key for toggle in app.toggle]
    expected = [f"conditions_buy_{key}" for key in BUY_CONDITION_KEYS]
    assert keys == expected + [f"conditions_sell_{key}" for key in SELL_CONDITION_KEYS]
    assert app.toggle(key="conditions_buy_golden_cross").value is True
    assert app.toggle(key="conditions_sell_macd_negative").value is False
    captions = " ".join(caption.value for caption in app.caption)
    for model in (BuyConditions, SellConditions):
        for field in model.model_fields.values():
            assert str(field.description) in captions


def test_set_conditions_no_buy_condition_is_refused_and_nothing_written(ui_home: Path) -> None:
    path = conditions_path(ui_home, "alice")
    before = path.read_bytes()
    app = page_test(PAGE).run()
    app.toggle(key="conditions_buy_golden_cross").set_value(False)
    app.button(key="conditions_save").click().run()
    assert not app.exception
    assert any("Enable at least one buy condition" in error.value for error in app.error)
    assert path.read_bytes() == before
    assert latest_conditions_version(ui_home) is None


def test_set_conditions_valid_save_writes_records_and_says_next_closed_candle(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    app.toggle(key="conditions_buy_golden_cross").set_value(False)
    app.toggle(key="conditions_buy_above_ma20").set_value(True)
    app.toggle(key="conditions_sell_signal_negative").set_value(True)
    app.button(key="conditions_save").click().run()
    saved = load_conditions(conditions_path(ui_home, "alice"))
    assert saved.enabled_buy() == ("above_ma20",)
    assert "signal_negative" in saved.enabled_sell()
    message = app.success[0].value
    assert f"Saved as conditions version {latest_conditions_version(ui_home)}." in message
    assert "next closed candle (within one minute15 candle)" in message
    assert "Warning" not in message


def test_set_conditions_no_exit_rule_saves_with_a_warning(ui_home: Path) -> None:
    app = page_test(PAGE).run()
    for key in SELL_CONDITION_KEYS:
        app.toggle(key=f"conditions_sell_{key}").set_value(False)
    app.button(key="conditions_save").click().run()
    assert load_conditions(conditions_path(ui_home, "alice")).enabled_sell() == ()
    assert "will never sell" in app.success[0].value
