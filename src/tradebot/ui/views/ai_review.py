"""AI Review: the optional AI trade review (issue 8), its settings, the OpenAI key, reviews and spending.

Off by default. While off, the page shows only how to enable it and the settings (the key included).
On, it adds a review of the last day or week (statistics computed here, then the model's text),
this month's spending against the cap and the log of every call with its prompt and answer. The
settings form is built from `AiSettings` itself (ranges and help from its fields) and saves nothing
unless the whole model is valid. The key is typed into a password field, stored encrypted and only
ever shown masked; the field is emptied as soon as it is saved.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Literal, Union, get_args, get_origin

import annotated_types
import pandas as pd
import streamlit as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from streamlit.delta_generator import DeltaGenerator

from tradebot.core.clock import SystemClock
from tradebot.core.errors import TradebotError
from tradebot.services.ai_review.client import AiResult, CallStatus
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.features import DailyReview, ai_status, daily_review, result_message
from tradebot.services.ai_review.setup import (
    AiRuntime,
    AiSetup,
    load_setup,
    remove_api_key,
    save_api_key,
    save_settings,
)
from tradebot.services.ai_review.store import (
    PURPOSES,
    AiCall,
    Purpose,
    read_key_ciphertext,
    recent_calls,
    spent_this_month,
)
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store
from tradebot.ui.components.metrics import format_time
from tradebot.ui.session import home, require_user, user_store

KEY_PREFIX = "ai_setting_"
ERRORS_KEY = "ai_setting_errors"
NOTICE_KEY = "ai_notice"
KEY_INPUT = "ai_key_input"
REVIEW_KEY = "ai_review_result"
FORM_ERROR = ""  # an error that names no field (both prices or neither): shown above the form
FIELDS = AiSettings.model_fields
ALL_PURPOSES = "all"
PURPOSE_CHOICES: dict[str, Purpose | None] = {
    ALL_PURPOSES: None,
    **{purpose: purpose for purpose in PURPOSES},
}
DEFAULT_CALLS_SHOWN = 50
MAX_CALLS_SHOWN = 1000
Notice = tuple[Literal["success", "info", "error"], str]


def mask(api_key: str) -> str:
    """The first four characters of a key and stars."""
    return api_key[:4] + "****"


# --- settings form ---------------------------------------------------------------------------


def _value_type(field: FieldInfo) -> type:
    """The field's type without `None` (`Decimal | None` is a Decimal input that may stay empty)."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, UnionType):
        annotation = next(item for item in get_args(annotation) if item is not NoneType)
    return annotation if isinstance(annotation, type) else str


def _decimal_places(field: FieldInfo) -> int:
    places = [getattr(item, "decimal_places", None) for item in field.metadata]
    return next((place for place in places if isinstance(place, int)), 4)


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]
    return low, high


def _widget_value(settings: AiSettings, name: str) -> object:
    value = getattr(settings, name)
    if isinstance(value, Decimal):
        return float(value)
    return "" if value is None and _value_type(FIELDS[name]) is str else value


def _model_value(name: str, value: object) -> object:
    """A widget's value as the model takes it: Decimal fields exactly, to the places they allow."""
    field = FIELDS[name]
    if isinstance(value, int | float) and _value_type(field) is Decimal:
        return Decimal(str(round(float(value), _decimal_places(field))))
    return value


def _seed(settings: AiSettings) -> None:
    """Start every input at the saved value, unless the user is already editing it."""
    if not any(KEY_PREFIX + name in st.session_state for name in FIELDS):
        st.session_state.pop(ERRORS_KEY, None)  # a fresh visit: old errors belong to old inputs
    for name in FIELDS:
        st.session_state.setdefault(KEY_PREFIX + name, _widget_value(settings, name))


def _number_input(column: DeltaGenerator, name: str, field: FieldInfo) -> None:
    low, high = _bounds(field)
    key, kind = KEY_PREFIX + name, _value_type(field)
    if kind is int:
        column.number_input(
            name, min_value=None if low is None else int(low), max_value=None if high is None else int(high),
            step=1, key=key, help=field.description,
        )  # fmt: skip
        return
    places = _decimal_places(field) if kind is Decimal else 1
    column.number_input(
        name, min_value=low, max_value=high, step=0.1 if kind is float else 0.01,
        format=f"%.{places}f", key=key, help=field.description,
    )  # fmt: skip


def _field_input(column: DeltaGenerator, name: str, field: FieldInfo, errors: dict[str, str]) -> None:
    kind = _value_type(field)
    if kind is bool:
        column.toggle(name, key=KEY_PREFIX + name, help=field.description)
    elif kind in (int, float, Decimal):
        _number_input(column, name, field)
    else:
        column.text_input(name, key=KEY_PREFIX + name, help=field.description)
    if name in errors:
        column.error(errors[name])


def _field_errors(error: ValidationError) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else FORM_ERROR
        found.setdefault(name, []).append(str(item["msg"]).removeprefix("Value error, "))
    return {name: "; ".join(messages) for name, messages in found.items()}


def _save_settings(username: str) -> None:
    """Form callback: validate the whole model, then save; on any error nothing is saved."""
    values = {name: _model_value(name, st.session_state.get(KEY_PREFIX + name)) for name in FIELDS}
    try:
        settings = AiSettings.model_validate(values)
    except ValidationError as error:
        st.session_state[ERRORS_KEY] = _field_errors(error)
        st.session_state[NOTICE_KEY] = ("error", "Not saved: correct the fields marked below.")
        return
    st.session_state[ERRORS_KEY] = {}
    try:
        with user_store(username) as store:
            save_settings(store, username, settings, now=datetime.now(UTC), saved_by=username)
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", f"Not saved: {error}")
        return
    for name in FIELDS:  # show the stored form (e.g. a base URL without its trailing slash)
        st.session_state[KEY_PREFIX + name] = _widget_value(settings, name)
    st.session_state[NOTICE_KEY] = ("success", "AI settings saved.")


def _render_settings(username: str, settings: AiSettings) -> None:
    _seed(settings)
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY, {})
    if FORM_ERROR in errors:
        st.error(errors[FORM_ERROR])
    with st.form("ai_settings_form"):
        columns = st.columns(2)
        for index, (name, field) in enumerate(FIELDS.items()):
            _field_input(columns[index % 2], name, field, errors)
        st.form_submit_button("Save settings", type="primary", on_click=_save_settings, args=(username,))


# --- API key ---------------------------------------------------------------------------------


def _save_key(username: str) -> None:
    """Form callback: store the typed key encrypted and empty the field; the key is never repeated."""
    typed = str(st.session_state.get(KEY_INPUT) or "")
    st.session_state[KEY_INPUT] = ""
    try:
        with user_store(username) as store:
            save_api_key(store, SecretBox.for_home(home()), username, typed, now=datetime.now(UTC))
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", f"The key was not saved: {error}")
        return
    st.session_state[NOTICE_KEY] = ("success", "OpenAI API key saved (encrypted).")


def _forget_key(username: str) -> None:
    try:
        with user_store(username) as store:
            remove_api_key(store, username)
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", f"The key was not removed: {error}")
        return
    st.session_state[NOTICE_KEY] = ("success", "The stored OpenAI API key was removed.")


def _render_key(store: Store, username: str, setup: AiSetup) -> None:
    st.subheader("OpenAI API key")
    if setup.api_key is not None and setup.key_source == "stored":
        st.success(f"Key stored, encrypted: `{mask(setup.api_key)}`.")
    elif setup.api_key is not None:
        st.info(
            f"Using OPENAI_API_KEY from the environment: `{mask(setup.api_key)}`. A saved key replaces it."
        )
    else:
        st.caption("No key configured.")
    if read_key_ciphertext(store, username) is not None:
        st.button("Forget key", key="ai_forget_key", on_click=_forget_key, args=(username,))
    with st.form("ai_key_form"):
        st.text_input(
            "OpenAI API key", type="password", autocomplete="off", key=KEY_INPUT,
            help="Stored encrypted in your database; shown only masked afterwards.",
        )  # fmt: skip
        st.form_submit_button("Save key", on_click=_save_key, args=(username,))


# --- review, spending, call log --------------------------------------------------------------


def show_result(result: AiResult) -> None:
    """The model's answer, or why there is none as one clear message."""
    if result.ok:
        st.markdown(result.text)
        tokens = f"{result.input_tokens} in / {result.output_tokens} out tokens"
        st.caption(f"Call #{result.call_id}: {tokens}, {result.cost_usd:.6f} USD.")
    elif result.status in (CallStatus.BUDGET, CallStatus.DISABLED):
        st.warning(result_message(result))
    else:
        st.error(result_message(result))


def _show_review(review: DailyReview) -> None:
    statistics = review.statistics
    st.markdown(
        f"**{statistics.days}-day review** ({format_time(statistics.period_start)} to "
        f"{format_time(statistics.period_end)})"
    )
    columns = st.columns(4)
    columns[0].metric("Trades (buys / sells)", f"{statistics.buys} / {statistics.sells}")
    columns[1].metric("Closed trades (won)", f"{statistics.closed_trades} ({statistics.wins})")
    rate = statistics.win_rate
    columns[2].metric("Win rate", "–" if rate is None else f"{rate * 100:.1f}%")
    columns[3].metric("Realised profit (KRW)", f"{statistics.realised_profit_krw:,.0f}")
    with st.expander("Statistics computed locally (all that is sent, with your settings)"):
        st.json(json.dumps(statistics.as_document(), default=str))
    st.markdown("**The model's review** (suggestions are for a backtest; nothing is applied)")
    show_result(review.result)


def _render_review(store: Store, username: str, runtime: AiRuntime) -> None:
    st.subheader("Review")
    columns = st.columns(2)
    last_day = columns[0].button("Review the last day", key="ai_review_day")
    last_week = columns[1].button("Review the last 7 days", key="ai_review_week")
    if last_day or last_week:
        with st.spinner("Asking the model…"):
            review = daily_review(store, username, runtime, days=1 if last_day else 7)
        st.session_state[REVIEW_KEY] = (username, review)
    shown = st.session_state.get(REVIEW_KEY)
    if shown is not None and shown[0] == username:
        _show_review(shown[1])


def _render_spending(store: Store, settings: AiSettings) -> None:
    st.subheader("Spending")
    spent, cap = spent_this_month(store, datetime.now(UTC)), settings.monthly_cap_usd
    share = 1.0 if cap <= 0 else min(1.0, float(spent / cap))
    st.metric("Spent this month (UTC)", f"{spent:.4f} USD", help="Pending requests count at their estimate.")
    st.progress(share, text=f"{spent:.4f} of the {cap} USD monthly cap")


def _calls_frame(calls: list[AiCall]) -> pd.DataFrame:
    rows = [
        {
            "id": call.id,
            "time": format_time(call.created_at),
            "purpose": call.purpose,
            "model": call.model,
            "status": call.status,
            "input tokens": call.input_tokens,
            "output tokens": call.output_tokens,
            "cost (USD)": str(call.cost_usd),
            "seconds": None if call.duration is None else round(call.duration.total_seconds(), 2),
            "error": call.error or "",
        }
        for call in calls
    ]
    return pd.DataFrame(rows)


def _show_call(call: AiCall) -> None:
    st.markdown("**Prompt**")
    for message in call.messages():
        st.caption(message.get("role", ""))
        st.code(message.get("content", ""), language=None, wrap_lines=True)
    st.markdown("**Answer**")
    if call.response is not None:
        st.code(call.response, language=None, wrap_lines=True)
    else:
        st.caption(call.error or f"No answer ({call.status}).")


def _render_calls(store: Store) -> None:
    st.subheader("Call log")
    columns = st.columns(2)
    chosen = columns[0].selectbox("Purpose", list(PURPOSE_CHOICES), key="ai_log_purpose")
    limit = columns[1].number_input(
        "Calls shown", min_value=1, max_value=MAX_CALLS_SHOWN, value=DEFAULT_CALLS_SHOWN, key="ai_log_limit"
    )
    calls = recent_calls(store, int(limit or DEFAULT_CALLS_SHOWN), PURPOSE_CHOICES[chosen or ALL_PURPOSES])
    if not calls:
        st.info("No AI call recorded yet.")
        return
    st.dataframe(_calls_frame(calls), hide_index=True)
    by_id = {call.id: call for call in calls}
    with st.expander("Read a call's prompt and answer"):
        label = {
            call.id: f"#{call.id} {call.purpose} {call.status} {format_time(call.created_at)}"
            for call in calls
        }
        call_id = st.selectbox("Call", list(by_id), format_func=label.__getitem__, key="ai_log_call")
        if call_id is not None:
            _show_call(by_id[call_id])


# --- page ------------------------------------------------------------------------------------


def _show_notice() -> None:
    notice: Notice | None = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        {"success": st.success, "info": st.info, "error": st.error}[kind](text)


def _render(username: str) -> None:
    runtime = AiRuntime(box=SecretBox.for_home(home()), clock=SystemClock())
    with user_store(username) as store:
        status = ai_status(store, username, runtime)
        (st.success if status.enabled else st.info)(status.message)
        setup = load_setup(store, username, runtime.box, runtime.environment)
        if status.enabled:
            st.caption(
                "A language model explains and reviews the bot's trading. It never places orders and "
                "nothing it suggests is applied. Every call is recorded below, with its cost."
            )
            _render_review(store, username, runtime)
            _render_spending(store, setup.settings)
            _render_calls(store)
        with st.expander("Settings and API key", expanded=not status.enabled):
            _render_settings(username, setup.settings)
            _render_key(store, username, setup)


def main() -> None:
    """The page."""
    username = require_user()
    st.title("🤖 AI Review")
    _show_notice()
    try:
        _render(username)
    except TradebotError as error:
        st.error(f"The AI review cannot be shown: {error}")


main()
