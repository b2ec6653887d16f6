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
from typing import Literal

import pandas as pd
import streamlit as st

from tradebot.core.clock import SystemClock
from tradebot.core.errors import TradebotError
from tradebot.core.i18n.formats import minute, money, second
from tradebot.services.ai_review.client import AiResult, CallStatus
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.features import DailyReview, ai_status, daily_review, result_message
from tradebot.services.ai_review.setup import (
    AiRuntime,
    AiSetup,
    load_setup,
    remove_api_key,
    save_api_key,
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
from tradebot.ui.components.ai_settings_form import NOTICE_KEY, render_settings
from tradebot.ui.i18n import current_language, t
from tradebot.ui.session import home, require_user, user_store

KEY_INPUT = "ai_key_input"
REVIEW_KEY = "ai_review_result"
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


def status_text(setup: AiSetup) -> str:
    """Whether the AI review is on, or how to turn it on, in this session's language."""
    available = setup.availability()
    if setup.key_problem is not None:
        return t("ai.status_key_problem", problem=setup.key_problem)
    if setup.api_key is None:
        return t("ai.status_how_to")
    if not available.enabled:
        return t("ai.status_off", source=setup.key_source)
    return t(
        "ai.status_on",
        model=setup.settings.model,
        cap=setup.settings.monthly_cap_usd,
        source=setup.key_source,
    )


def failure_message(result: AiResult) -> str:
    """Why there is no answer (budget, timeout, 429 …), headed in this session's language."""
    if result.status in (CallStatus.OK, CallStatus.DISABLED):
        return result_message(result)
    return f"{t(f'ai.headline.{result.status.value}')}: {result.text}"


# --- API key ---------------------------------------------------------------------------------


def _save_key(username: str) -> None:
    """Form callback: store the typed key encrypted and empty the field; the key is never repeated."""
    typed = str(st.session_state.get(KEY_INPUT) or "")
    st.session_state[KEY_INPUT] = ""
    try:
        with user_store(username) as store:
            save_api_key(store, SecretBox.for_home(home()), username, typed, now=datetime.now(UTC))
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", t("ai.key_not_saved", error=error))
        return
    st.session_state[NOTICE_KEY] = ("success", t("ai.key_saved"))


def _forget_key(username: str) -> None:
    try:
        with user_store(username) as store:
            remove_api_key(store, username)
    except TradebotError as error:
        st.session_state[NOTICE_KEY] = ("error", t("ai.key_not_removed", error=error))
        return
    st.session_state[NOTICE_KEY] = ("success", t("ai.key_removed"))


def _render_key(store: Store, username: str, setup: AiSetup) -> None:
    st.subheader(t("ai.key_heading"))
    if setup.api_key is not None and setup.key_source == "stored":
        st.success(t("ai.key_stored", mask=mask(setup.api_key)))
    elif setup.api_key is not None:
        st.info(t("ai.key_environment", mask=mask(setup.api_key)))
    else:
        st.caption(t("ai.no_key"))
    if read_key_ciphertext(store, username) is not None:
        st.button(t("ai.forget_key"), key="ai_forget_key", on_click=_forget_key, args=(username,))
    with st.form("ai_key_form"):
        st.text_input(
            t("ai.key_input"), type="password", autocomplete="off", key=KEY_INPUT, help=t("ai.key_help")
        )
        st.form_submit_button(t("ai.save_key"), on_click=_save_key, args=(username,))


# --- review, spending, call log --------------------------------------------------------------


def show_result(result: AiResult) -> None:
    """The model's answer, or why there is none as one clear message."""
    if result.ok:
        st.markdown(result.text)
        cost = f"{result.cost_usd:.6f}"
        summary = t(
            "ai.call_summary",
            call=result.call_id,
            input=result.input_tokens,
            output=result.output_tokens,
            cost=cost,
        )
        st.caption(summary)
    elif result.status in (CallStatus.BUDGET, CallStatus.DISABLED):
        st.warning(failure_message(result))
    else:
        st.error(failure_message(result))


def _show_review(review: DailyReview) -> None:
    statistics = review.statistics
    language = current_language()
    start, end = minute(statistics.period_start, language), minute(statistics.period_end, language)
    st.markdown(t("ai.review_heading", days=statistics.days, start=start, end=end))
    columns = st.columns(4)
    columns[0].metric(t("ai.trades"), f"{statistics.buys} / {statistics.sells}")
    columns[1].metric(t("ai.closed"), f"{statistics.closed_trades} ({statistics.wins})")
    rate = statistics.win_rate
    columns[2].metric(t("ai.win_rate"), "–" if rate is None else f"{rate * 100:.1f}%")
    columns[3].metric(t("ai.realised"), money(Decimal(str(statistics.realised_profit_krw)), language))
    with st.expander(t("ai.statistics")):
        st.json(json.dumps(statistics.as_document(), default=str))
    st.markdown(t("ai.model_review"))
    show_result(review.result)


def _render_review(store: Store, username: str, runtime: AiRuntime) -> None:
    st.subheader(t("ai.review"))
    columns = st.columns(2)
    last_day = columns[0].button(t("ai.review_day"), key="ai_review_day")
    last_week = columns[1].button(t("ai.review_week"), key="ai_review_week")
    if last_day or last_week:
        with st.spinner(t("ai.asking")):
            days, language = 1 if last_day else 7, current_language()
            review = daily_review(store, username, runtime, days=days, language=language)
        st.session_state[REVIEW_KEY] = (username, review)
    shown = st.session_state.get(REVIEW_KEY)
    if shown is not None and shown[0] == username:
        _show_review(shown[1])


def _render_spending(store: Store, settings: AiSettings) -> None:
    st.subheader(t("ai.spending"))
    spent, cap = spent_this_month(store, datetime.now(UTC)), settings.monthly_cap_usd
    share = 1.0 if cap <= 0 else min(1.0, float(spent / cap))
    st.metric(t("ai.spent"), f"{spent:.4f} USD", help=t("ai.spent_help"))
    st.progress(share, text=t("ai.cap", spent=f"{spent:.4f}", cap=cap))


def _calls_frame(calls: list[AiCall]) -> pd.DataFrame:
    language = current_language()
    rows = [
        {
            "id": call.id,
            "time": second(call.created_at, language),
            "purpose": call.purpose,
            "model": call.model,
            "status": call.status,
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "cost": str(call.cost_usd),
            "seconds": None if call.duration is None else round(call.duration.total_seconds(), 2),
            "error": call.error or "",
        }
        for call in calls
    ]
    frame = pd.DataFrame(rows)
    return frame.rename(columns={name: t(f"ai.column.{name}") for name in frame.columns})


def _show_call(call: AiCall) -> None:
    st.markdown(t("ai.prompt"))
    for message in call.messages():
        st.caption(message.get("role", ""))
        st.code(message.get("content", ""), language=None, wrap_lines=True)
    st.markdown(t("ai.answer"))
    if call.response is not None:
        st.code(call.response, language=None, wrap_lines=True)
    else:
        st.caption(call.error or t("ai.no_answer", status=call.status))


def _render_calls(store: Store) -> None:
    st.subheader(t("ai.call_log"))
    columns = st.columns(2)
    chosen = columns[0].selectbox(
        t("ai.purpose"), list(PURPOSE_CHOICES), key="ai_log_purpose",
        format_func=lambda purpose: t("ai.all") if purpose == ALL_PURPOSES else purpose,
    )  # fmt: skip
    limit = columns[1].number_input(
        t("ai.calls_shown"),
        min_value=1,
        max_value=MAX_CALLS_SHOWN,
        value=DEFAULT_CALLS_SHOWN,
        key="ai_log_limit",
    )
    calls = recent_calls(store, int(limit or DEFAULT_CALLS_SHOWN), PURPOSE_CHOICES[chosen or ALL_PURPOSES])
    if not calls:
        st.info(t("ai.no_calls"))
        return
    st.dataframe(_calls_frame(calls), hide_index=True)
    by_id = {call.id: call for call in calls}
    with st.expander(t("ai.read_call")):
        language = current_language()
        label = {
            call.id: f"#{call.id} {call.purpose} {call.status} {second(call.created_at, language)}"
            for call in calls
        }
        call_id = st.selectbox(t("ai.call"), list(by_id), format_func=label.__getitem__, key="ai_log_call")
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
        setup = load_setup(store, username, runtime.box, runtime.environment)
        (st.success if status.enabled else st.info)(status_text(setup))
        if status.enabled:
            st.caption(t("ai.intro"))
            _render_review(store, username, runtime)
            _render_spending(store, setup.settings)
            _render_calls(store)
        with st.expander(t("ai.settings_and_key"), expanded=not status.enabled):
            render_settings(username, setup.settings)
            _render_key(store, username, setup)


def main() -> None:
    """The page."""
    username = require_user()
    st.title(t("ai.title"))
    _show_notice()
    try:
        _render(username)
    except TradebotError as error:
        st.error(t("ai.cannot_show", error=error))


main()
