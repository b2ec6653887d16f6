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
from tradebot.ui.i18n import t
from tradebot.ui.session import home, require_user, user_store

KEY_PREFIX = "conditions_"
ERRORS_KEY = "conditions_errors"
NOTICE_KEY = "conditions_notice"
FORM_ERROR = ""
Side = Literal["buy", "sell"]
SIDE_MODELS: dict[Side, type[BaseModel]] = {"buy": BuyConditions, "sell": SellConditions}
INTRODUCTIONS: dict[Side, str] = {"buy": "conditions_page.intro_buy", "sell": "conditions_page.intro_sell"}
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
        found.setdefault(side, []).append(
            t("conditions_page.no_buy") if "at least one buy condition" in message else message
        )
    return {side: "; ".join(messages) for side, messages in found.items()}


def _record(username: str, conditions: Conditions) -> str:
    try:
        with user_store(username) as store, store.transaction() as transaction:
            version = transaction.record_settings(conditions, saved_at=datetime.now(UTC), saved_by=username)
    except TradebotError as error:
        return t("conditions_page.not_recorded", error=error)
    return t("conditions_page.recorded", version=version)


def _when_applied(username: str, saved: Conditions) -> str:
    try:
        interval = load_params(params_path(home(), username)).interval.value
        within = t("conditions_page.within_interval", interval=interval)
    except TradebotError:
        within = t("conditions_page.within_unknown")
    message = t("conditions_page.applies", within=within)
    if saved.enabled_sell():
        return message
    return f"{message} {t('conditions_page.warning', problem=t('conditions_page.no_sell'))}"


def _load(username: str) -> tuple[Conditions | None, str | None]:
    try:
        return load_conditions(conditions_path(home(), username)), None
    except TradebotError as error:
        return None, str(error)


def _save(username: str) -> None:
    """Form callback: refuse an empty buy side, validate, then write, record and say when it applies."""
    values = _form_values()
    if not any(values["buy"].values()):
        st.session_state[ERRORS_KEY] = {"buy": t("conditions_page.no_buy")}
        st.session_state[NOTICE_KEY] = ("error", t("conditions_page.not_saved"))
        return
    try:
        conditions = Conditions.model_validate(values)
    except ValidationError as error:
        st.session_state[ERRORS_KEY] = _errors(error)
        st.session_state[NOTICE_KEY] = ("error", t("conditions_page.not_saved"))
        return
    st.session_state[ERRORS_KEY] = {}
    previous, _ = _load(username)
    if previous == conditions:
        st.session_state[NOTICE_KEY] = ("info", t("conditions_page.unchanged"))
        return
    path = conditions_path(home(), username)
    try:
        save_conditions(path, conditions)
        saved = load_conditions(path)  # what the engine will read, so both record the same content
    except (OSError, TradebotError) as error:
        st.session_state[NOTICE_KEY] = ("error", t("conditions_page.save_failed", error=error))
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
    st.subheader(t(f"conditions_page.{side}"))
    st.markdown(t(INTRODUCTIONS[side]))
    if side in errors:
        st.error(errors[side])
    for name in SIDE_MODELS[side].model_fields:
        st.toggle(f"{t(f'condition.{name}.name')} (`{name}`)", key=_key(side, name))
        note = ""
        if side == "sell":
            note = " " + t(
                "conditions_page.price_note" if name in PRICE_EXIT_KEYS else "conditions_page.indicator_note"
            )
        st.caption(f"{t(f'condition.{name}.help')}{note}")


def _render() -> None:
    st.title(t("conditions_page.title"))
    username = require_user()
    current, problem = _load(username)
    st.caption(t("conditions_page.caption"))
    _show_notice()
    if problem is not None:
        st.error(t("conditions_page.unreadable", problem=problem))
    _seed(current or Conditions())
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY, {})
    if FORM_ERROR in errors:
        st.error(errors[FORM_ERROR])
    with st.form("conditions_form"):
        columns = st.columns(2)
        for column, side in zip(columns, SIDE_MODELS, strict=True):
            with column:
                _side_section(side, errors)
        st.form_submit_button(
            t("conditions_page.save"), type="primary", key="conditions_save", on_click=_save, args=(username,)
        )
    st.button(
        t("conditions_page.reload"),
        key="conditions_reload",
        on_click=_reload,
        help=t("conditions_page.reload_help"),
    )


_render()
