"""Set Buy/Sell Conditions: the switches of `{user}_buy_sell_conditions.json`, one toggle per rule.

Every condition key of docs/TRADING_RULES.md has a toggle with its one-line explanation (the model's
field description). A buy side with nothing enabled is refused with a clear message (the model
refuses it too) and nothing is written. A valid form is written atomically, recorded in the
user's settings history with the engine's canonical content, and the page says when it applies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import streamlit as st
from pydantic import BaseModel, ValidationError

from tradebot.core.errors import TradebotError
from tradebot.core.params import PRICE_EXIT_KEYS, BuyConditions, Conditions, SellConditions
from tradebot.services.settings_store import load_conditions, load_params, save_conditions
from tradebot.services.users import conditions_path, params_path
from tradebot.ui.session import home, require_user, user_store

KEY_PREFIX = "conditions_"
ERRORS_KEY = "conditions_errors"
NOTICE_KEY = "conditions_notice"
FORM_ERROR = ""
Side = Literal["buy", "sell"]
SIDE_MODELS: dict[Side, type[BaseModel]] = {"buy": BuyConditions, "sell": SellConditions}
NO_BUY = "Enable at least one buy condition: with none enabled the bot could never buy."
NOT_SAVED = "Not saved (nothing was written): correct the section marked below."
NO_SELL = (
    "No exit rule is enabled: the strategy will never sell a position; only a force sell on the "
    "Dashboard closes it."
)
INTRODUCTIONS: dict[Side, str] = {
    "buy": "The bot buys on a closed candle, while flat, when **every enabled** condition holds.",
    "sell": "Checked in this order while holding; the **first enabled** rule that holds sells.",
}
PRICE_NOTE = (
    "Price exit: checked on every candle close and, with `price_exit_check = tick`, on the latest "
    "price every cycle; never delayed by `min_holding_bars`."
)
INDICATOR_NOTE = "Indicator exit: only once the position has been held `min_holding_bars` closed candles."
Notice = tuple[Literal["success", "info", "error"], str]


def _key(side: Side, name: str) -> str:
    return f"{KEY_PREFIX}{side}_{name}"


def _seed(conditions: Conditions) -> None:
    """Start every toggle at the saved switch, unless the user is already editing it."""
    keys = [_key(side, name) for side, model in SIDE_MODELS.items() for name in model.model_fields]
    if not any(key in st.session_state for key in keys):
        st.session_state.pop(ERRORS_KEY, None)  # a fresh visit: old errors belong to old toggles
    for side, model in SIDE_MODELS.items():
        saved = getattr(conditions, side)
        for name in model.model_fields:
            st.session_state.setdefault(_key(side, name), bool(getattr(saved, name)))


def _form_values() -> dict[str, dict[str, object]]:
    return {
        side: {name: st.session_state.get(_key(side, name)) for name in model.model_fields}
        for side, model in SIDE_MODELS.items()
    }


def _errors(error: ValidationError) -> dict[str, str]:
    """Messages by side ('buy' / 'sell'), or FORM_ERROR for one that names neither."""
    found: dict[str, list[str]] = {}
    for item in error.errors():
        location = item["loc"]
        side = str(location[0]) if location and location[0] in SIDE_MODELS else FORM_ERROR
        message = str(item["msg"]).removeprefix("Value error, ")
        found.setdefault(side, []).append(NO_BUY if "at least one buy condition" in message else message)
    return {side: "; ".join(messages) for side, messages in found.items()}


def _record(username: str, conditions: Conditions) -> str:
    try:
        with user_store(username) as store, store.transaction() as transaction:
            version = transaction.record_settings(conditions, saved_at=datetime.now(UTC), saved_by=username)
    except TradebotError as error:
        return f"Saved. The version was not recorded now ({error}); the engine records it when it applies it."
    return f"Saved as conditions version {version}."


def _when_applied(username: str, saved: Conditions) -> str:
    try:
        interval = f"within one {load_params(params_path(home(), username)).interval.value} candle"
    except TradebotError:
        interval = "within one candle interval"
    message = (
        f"Your running bot applies them at the next closed candle ({interval}); until then the "
        "previous switches stay in force, also for price checks between closes. A stopped bot uses "
        "them when it starts."
    )
    return message if saved.enabled_sell() else f"{message} Warning: {NO_SELL}"


def _load(username: str) -> tuple[Conditions | None, str | None]:
    try:
        return load_conditions(conditions_path(home(), username)), None
    except TradebotError as error:
        return None, str(error)


def _save(username: str) -> None:
    """Form callback: refuse an empty buy side, validate, then write, record and say when it applies."""
    values = _form_values()
    if not any(values["buy"].values()):
        st.session_state[ERRORS_KEY] = {"buy": NO_BUY}
        st.session_state[NOTICE_KEY] = ("error", NOT_SAVED)
        return
    try:
        conditions = Conditions.model_validate(values)
    except ValidationError as error:
        st.session_state[ERRORS_KEY] = _errors(error)
        st.session_state[NOTICE_KEY] = ("error", NOT_SAVED)
        return
    st.session_state[ERRORS_KEY] = {}
    previous, _ = _load(username)
    if previous == conditions:
        st.session_state[NOTICE_KEY] = ("info", "Nothing changed: the file already holds these switches.")
        return
    path = conditions_path(home(), username)
    try:
        save_conditions(path, conditions)
        saved = load_conditions(path)  # what the engine will read, so both record the same content
    except (OSError, TradebotError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"Not saved: {error}")
        return
    message = f"{_record(username, saved)} {_when_applied(username, saved)}"
    st.session_state[NOTICE_KEY] = ("success", message)


def _reload() -> None:
    for side, model in SIDE_MODELS.items():
        for name in model.model_fields:
            st.session_state.pop(_key(side, name), None)
    st.session_state.pop(ERRORS_KEY, None)


def _show_notice() -> None:
    notice: Notice | None = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        {"success": st.success, "info": st.info, "error": st.error}[kind](text)


def _side_section(side: Side, errors: dict[str, str]) -> None:
    st.subheader("Buy (entry)" if side == "buy" else "Sell (exit)")
    st.markdown(INTRODUCTIONS[side])
    if side in errors:
        st.error(errors[side])
    for name, field in SIDE_MODELS[side].model_fields.items():
        st.toggle(name, key=_key(side, name))
        note = ""
        if side == "sell":
            note = " " + (PRICE_NOTE if name in PRICE_EXIT_KEYS else INDICATOR_NOTE)
        st.caption(f"{field.description}{note}")


def _render() -> None:
    st.title("Set Buy/Sell Conditions")
    username = require_user()
    current, problem = _load(username)
    st.caption("Which rules of docs/TRADING_RULES.md are on; their thresholds are on the Set Config page.")
    _show_notice()
    if problem is not None:
        st.error(f"Your conditions file cannot be read: {problem}. The form shows the defaults.")
    _seed(current or Conditions())
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY, {})
    if FORM_ERROR in errors:
        st.error(errors[FORM_ERROR])
    with st.form("conditions_form"):
        columns = st.columns(2)
        for column, side in zip(columns, SIDE_MODELS, strict=True):
            with column:
                _side_section(side, errors)
        st.form_submit_button("Save", type="primary", key="conditions_save", on_click=_save, args=(username,))
    st.button("Reload from file", key="conditions_reload", on_click=_reload, help="Discard unsaved edits.")


_render()
