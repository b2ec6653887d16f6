"""Set Config: the strategy parameters (`{user}_latest_params.json`), one input per StrategyParams field.

The form is built from the pydantic model itself (ranges from the field constraints, help from the
descriptions), so a new parameter appears here without a page change. Saving validates the whole
model first: any error, cross-field ones included, is shown under the field it names and nothing is
written. A valid form is written atomically, recorded in the user's settings history (the same
canonical content the engine records, so the engine's record is the same version) and the page
says when the engine will apply it (docs/TRADING_RULES.md, "Settings changes").
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Literal, get_args, get_origin

import annotated_types
import streamlit as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from streamlit.delta_generator import DeltaGenerator

from tradebot.core.errors import TradebotError
from tradebot.core.params import StrategyParams
from tradebot.core.safeguards import CAUTION_FLAGS, CAUTION_WORDS, SafeguardSettings
from tradebot.services.settings_store import load_params, save_params
from tradebot.services.users import params_path
from tradebot.ui.session import home, require_user, user_store

KEY_PREFIX = "config_"
ERRORS_KEY = "config_errors"
NOTICE_KEY = "config_notice"
FORM_ERROR = ""  # an error that names no field: shown above the form
FIELDS = StrategyParams.model_fields
PERIODS = ("fast_period", "slow_period", "signal_period")
Notice = tuple[Literal["success", "info", "error"], str]


def _widget_value(params: StrategyParams, name: str) -> object:
    value = getattr(params, name)
    if isinstance(value, SafeguardSettings):  # one multiselect: the caution flags allowed
        return list(value.allowed_caution_flags)
    return value.value if isinstance(value, Enum) else value


def _model_value(name: str, widget: object) -> object:
    """The model's input for a widget's value (the inverse of `_widget_value`)."""
    if FIELDS[name].annotation is SafeguardSettings:
        return {"allowed_caution_flags": widget or []}
    return widget


def _seed(params: StrategyParams) -> None:
    """Start every input at the saved value, unless the user is already editing it."""
    if not any(KEY_PREFIX + name in st.session_state for name in FIELDS):
        st.session_state.pop(ERRORS_KEY, None)  # a fresh visit: old errors belong to old inputs
    for name in FIELDS:
        st.session_state.setdefault(KEY_PREFIX + name, _widget_value(params, name))


def _bounds(field: FieldInfo) -> tuple[float | None, float | None]:
    # Exclusive bounds become the widget's limits; the model refuses the limit itself on save.
    low: float | None = None
    high: float | None = None
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = float(item.ge if isinstance(item, annotated_types.Ge) else item.gt)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = float(item.le if isinstance(item, annotated_types.Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def _number_input(column: DeltaGenerator, name: str, field: FieldInfo) -> None:
    low, high = _bounds(field)
    key, description = KEY_PREFIX + name, field.description
    if field.annotation is int:
        column.number_input(
            name, min_value=None if low is None else int(low), max_value=None if high is None else int(high),
            step=1, key=key, help=description,
        )  # fmt: skip
        return
    step = 0.001 if high is not None and high <= 10 else 1.0  # fractions move in tenths of a percent
    column.number_input(
        name, min_value=low, max_value=high, step=step, format="%g", key=key, help=description
    )


def _field_input(column: DeltaGenerator, name: str, field: FieldInfo, errors: dict[str, str]) -> None:
    annotation, key = field.annotation, KEY_PREFIX + name
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        options = [member.value for member in annotation]
        column.selectbox(name, options, key=key, help=field.description)
    elif annotation is SafeguardSettings:
        column.multiselect(
            "safeguards: caution flags allowed", list(CAUTION_FLAGS), key=key, help=field.description,
            format_func=lambda flag: f"{flag} ({CAUTION_WORDS[flag]})",
        )  # fmt: skip
    elif get_origin(annotation) is Literal:
        column.selectbox(name, list(get_args(annotation)), key=key, help=field.description)
    elif annotation is bool:
        column.toggle(name, key=key, help=field.description)
    elif annotation in (int, float):
        _number_input(column, name, field)
    else:
        column.text_input(name, key=key, help=field.description)
    if name in errors:
        column.error(errors[name])


def _field_errors(error: ValidationError) -> dict[str, str]:
    """Each message under the field it concerns; a cross-field one under the first field it names."""
    found: dict[str, list[str]] = {}
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        location = item["loc"]
        if location:
            name = str(location[0])
        else:
            named = [(message.find(field), field) for field in FIELDS if field in message]
            name = min(named)[1] if named else FORM_ERROR
        found.setdefault(name, []).append(message)
    return {name: "; ".join(messages) for name, messages in found.items()}


def _load(username: str) -> tuple[StrategyParams | None, str | None]:
    try:
        return load_params(params_path(home(), username)), None
    except TradebotError as error:
        return None, str(error)


def _record(username: str, params: StrategyParams) -> str:
    try:
        with user_store(username) as store, store.transaction() as transaction:
            version = transaction.record_settings(params, saved_at=datetime.now(UTC), saved_by=username)
    except TradebotError as error:
        return f"Saved. The version was not recorded now ({error}); the engine records it when it applies it."
    return f"Saved as params version {version}."


def _restart_changes(previous: StrategyParams, saved: StrategyParams) -> list[str]:
    changes = []
    if (previous.market, previous.interval) != (saved.market, saved.interval):
        old, new = (f"{params.market} {params.interval.value}" for params in (previous, saved))
        changes.append(f"market/interval {old} → {new}")
    if any(getattr(previous, name) != getattr(saved, name) for name in PERIODS):
        old, new = ("/".join(str(getattr(params, name)) for name in PERIODS) for params in (previous, saved))
        changes.append(f"MACD periods (fast/slow/signal) {old} → {new}")
    return changes


def _when_applied(username: str, previous: StrategyParams | None, saved: StrategyParams) -> str:
    interval = (previous or saved).interval.value
    message = (
        f"Your running bot applies it at the next closed candle (within one {interval} candle); "
        "a stopped bot uses it when it starts."
    )
    changes = [] if previous is None else _restart_changes(previous, saved)
    if changes:
        message += (
            " Only when the loop restarts (Stop, then Start on the Dashboard, or "
            f"`tradebot ctl restart --user {username}`): {'; '.join(changes)}, because the indicators are "
            "rebuilt from their first candle. "
            "Until then the engine keeps the old values there and applies your other changes."
        )
    return message


def _save(username: str) -> None:
    """Form callback: validate everything, then write, record and say when it applies."""
    values = {name: _model_value(name, st.session_state.get(KEY_PREFIX + name)) for name in FIELDS}
    try:
        params = StrategyParams.model_validate(values)
    except ValidationError as error:
        st.session_state[ERRORS_KEY] = _field_errors(error)
        st.session_state[NOTICE_KEY] = ("error", "Not saved: correct the fields marked below.")
        return
    st.session_state[ERRORS_KEY] = {}
    previous, _ = _load(username)
    if previous == params:
        st.session_state[NOTICE_KEY] = ("info", "Nothing changed: the file already holds these values.")
        return
    path = params_path(home(), username)
    try:
        save_params(path, params)
        saved = load_params(path)  # what the engine will read, so both record the same content
    except (OSError, TradebotError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"Not saved: {error}")
        return
    for name in FIELDS:  # show the stored form (e.g. the market in upper case)
        st.session_state[KEY_PREFIX + name] = _widget_value(saved, name)
    message = f"{_record(username, saved)} {_when_applied(username, previous, saved)}"
    st.session_state[NOTICE_KEY] = ("success", message)


def _reload() -> None:
    for name in FIELDS:
        st.session_state.pop(KEY_PREFIX + name, None)
    st.session_state.pop(ERRORS_KEY, None)


def _show_notice() -> None:
    notice: Notice | None = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        {"success": st.success, "info": st.info, "error": st.error}[kind](text)


def _render() -> None:
    st.title("Set Config")
    username = require_user()
    current, problem = _load(username)
    st.caption(
        "Strategy parameters. Ratios are fractions: 0.03 = 3%. Hover over a field's ? for what it does."
    )
    _show_notice()
    if problem is not None:
        st.error(
            f"Your parameters file cannot be read: {problem}. "
            "The form shows the defaults; saving replaces the file."
        )
    _seed(current or StrategyParams())
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY, {})
    if FORM_ERROR in errors:
        st.error(errors[FORM_ERROR])
    with st.form("config_form"):
        columns = st.columns(2)
        for index, (name, field) in enumerate(FIELDS.items()):
            _field_input(columns[index % 2], name, field, errors)
        st.form_submit_button("Save", type="primary", key="config_save", on_click=_save, args=(username,))
    st.button("Reload from file", key="config_reload", on_click=_reload, help="Discard unsaved edits.")


_render()
