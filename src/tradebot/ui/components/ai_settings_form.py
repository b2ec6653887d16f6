"""The AI settings form of the AI Review page, built from `AiSettings` itself.

Each field's input follows its type and range; labels and help come from the catalogue
(`ai_setting.<name>`). Nothing is saved unless the whole model is valid; errors are shown at the
fields they name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Union, get_args, get_origin

import annotated_types
import streamlit as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from streamlit.delta_generator import DeltaGenerator

from tradebot.core.errors import TradebotError
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.setup import save_settings
from tradebot.ui.i18n import t
from tradebot.ui.session import user_store

KEY_PREFIX = "ai_setting_"
ERRORS_KEY = "ai_setting_errors"
NOTICE_KEY = "ai_notice"
FORM_ERROR = ""  # an error that names no field (both prices or neither): shown above the form
FIELDS = AiSettings.model_fields


def _label(name: str) -> str:
    return t(f"ai_setting.{name}.name")


def _help(name: str) -> str:
    return t(f"ai_setting.{name}.help")


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
            _label(name), min_value=None if low is None else int(low),
            max_value=None if high is None else int(high), step=1, key=key, help=_help(name),
        )  # fmt: skip
        return
    places = _decimal_places(field) if kind is Decimal else 1
    column.number_input(
        _label(name), min_value=low, max_value=high, step=0.1 if kind is float else 0.01,
        format=f"%.{places}f", key=key, help=_help(name),
    )  # fmt: skip


def _field_input(column: DeltaGenerator, name: str, field: FieldInfo, errors: dict[str, str]) -> None:
    kind = _value_type(field)
    if kind is bool:
        column.toggle(_label(name), key=KEY_PREFIX + name, help=_help(name))
    elif kind in (int, float, Decimal):
        _number_input(column, name, field)
    else:
        column.text_input(_label(name), key=KEY_PREFIX + name, help=_help(name))
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
        st.session_state[NOTICE_KEY] = ("error", t("ai.not_saved_fields"))
        return
    st.session_state[ERRORS_KEY] = {}
    try:
        with user_store(username) as store:
            save_settings(store, username, settings, now=datetime.now(UTC), saved_by=username)
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", t("ai.not_saved", error=error))
        return
    for name in FIELDS:  # show the stored form (e.g. a base URL without its trailing slash)
        st.session_state[KEY_PREFIX + name] = _widget_value(settings, name)
    st.session_state[NOTICE_KEY] = ("success", t("ai.saved"))


def render_settings(username: str, settings: AiSettings) -> None:
    """The settings form, seeded from `settings`; Save validates the whole model first."""
    _seed(settings)
    errors: dict[str, str] = st.session_state.get(ERRORS_KEY, {})
    if FORM_ERROR in errors:
        st.error(errors[FORM_ERROR])
    with st.form("ai_settings_form"):
        columns = st.columns(2)
        for index, (name, field) in enumerate(FIELDS.items()):
            _field_input(columns[index % 2], name, field, errors)
        st.form_submit_button(
            t("ai.save_settings"), type="primary", on_click=_save_settings, args=(username,)
        )
