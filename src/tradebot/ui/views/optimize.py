"""Optimize: a walk-forward study on the user's own cached candles, and (after confirmation) its
settings saved as the user's settings.

The page never touches the running strategy by itself: running a study only reads. Saving needs
two clicks (use, then confirm after seeing every change); it writes both settings files, which the
bot applies at its next closed candle as with Set Config, and records them as versions saved by
`optimize`. docs/OPTIMIZE.md explains the figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
import streamlit as st

from tradebot.backtest.optimize.html_report import report_figures
from tradebot.backtest.optimize.objective import OBJECTIVES
from tradebot.core.errors import TradebotError
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.optimize_study import (
    StudyChoice,
    StudyResult,
    cached_series,
    load_user_settings,
    run_study,
    save_optimized,
)
from tradebot.ui.session import home, require_user, user_store

RESULT_KEY = "optimize_result"
PENDING_KEY = "optimize_pending"
NOTICE_KEY = "optimize_notice"
Notice = tuple[Literal["success", "info", "error"], str]
INTRODUCTION = (
    "Searches your strategy's settings on the candles your bot has cached, **walk-forward**: each "
    "fold's settings are chosen on its first part and then tested on the part after it, which they "
    "never saw. The out-of-sample figures are the honest ones. Running a study changes nothing; "
    "saving its settings asks for confirmation first."
)


def _choice() -> StudyChoice | None:
    """The form; the user's choice when they pressed Run study, else None."""
    with st.form("optimize_form"):
        columns = st.columns(3)
        trials = columns[0].number_input("Trials per fold", 5, 300, 30, step=5, key="optimize_trials")
        folds = columns[1].number_input("Walk-forward folds", 1, 10, 3, key="optimize_folds")
        objective = columns[2].selectbox("Objective", OBJECTIVES, key="optimize_objective")
        min_trades = columns[0].number_input("Min trades", 0, 1000, 5, key="optimize_min_trades")
        seed = columns[1].number_input("Seed", 0, 1_000_000, 1, key="optimize_seed")
        keep = columns[2].toggle("Keep my buy/sell conditions", True, key="optimize_keep_conditions")
        submitted = st.form_submit_button("Run study", type="primary", key="optimize_run")
    if not submitted:
        return None
    st.session_state[PENDING_KEY] = False  # a new study: an old confirmation question is void
    return StudyChoice(int(trials), int(folds), str(objective), int(min_trades), int(seed), bool(keep))


def _run(username: str, params: StrategyParams, conditions: Conditions, choice: StudyChoice) -> None:
    try:
        with user_store(username) as store, store.snapshot() as reader:
            series = cached_series(reader, params)
        with st.spinner(f"Running {choice.trials} trials on each of {choice.folds} fold(s)..."):
            st.session_state[RESULT_KEY] = run_study(series, params, conditions, choice)
    except TradebotError as error:
        st.session_state.pop(RESULT_KEY, None)
        st.error(f"The study could not run: {error}")


def _fold_table(document: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for fold in document["folds"]:
        inside, outside = fold["in_sample"] or {}, fold["out_of_sample"] or {}
        rows.append(
            {
                "fold": fold["fold"],
                "train": f"{fold['train']['start']} .. {fold['train']['end']}",
                "test": "" if fold["test"] is None else f"{fold['test']['start']} .. {fold['test']['end']}",
                "in-sample return": inside.get("return"),
                "out-of-sample return": outside.get("return"),
                "out-of-sample trades": outside.get("trades"),
            }
        )
    return pd.DataFrame(rows)


def _changes(current: tuple[StrategyParams, Conditions], best: dict[str, Any]) -> pd.DataFrame:
    """Every setting the study's best differs in from the user's current files."""
    params, conditions = current
    rows = [
        {"setting": key, "now": value, "optimized": best["params"][key]}
        for key, value in params.model_dump(mode="json").items()
        if best["params"][key] != value
    ]
    for side, switches in conditions.model_dump(mode="json").items():
        for key, value in switches.items():
            if best["conditions"][side][key] != value:
                optimized = best["conditions"][side][key]
                rows.append({"setting": f"{side}.{key}", "now": value, "optimized": optimized})
    return pd.DataFrame(rows, columns=["setting", "now", "optimized"]).astype(str)


def _confirm(username: str, best: dict[str, Any], study_params: StrategyParams) -> None:
    """Confirm-button callback: save the best settings unless the params changed market or interval."""
    st.session_state[PENDING_KEY] = False
    params = StrategyParams.model_validate(best["params"])
    conditions = Conditions.model_validate(best["conditions"])
    try:
        current, _ = load_user_settings(home(), username)
        if (current.market, current.interval) != (study_params.market, study_params.interval):
            raise TradebotError("your market or interval changed since the study ran; run it again")
        with user_store(username) as store:
            versions = save_optimized(home(), store, username, (params, conditions), datetime.now(UTC))
    except (OSError, TradebotError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"Not saved: {error}")
        return
    st.session_state[NOTICE_KEY] = (
        "success",
        f"Saved as params version {versions[0]} and conditions version {versions[1]} (saved by optimize). "
        "Your running bot applies them at the next closed candle; a stopped bot uses them when it starts.",
    )


def _show_result(username: str, result: StudyResult, current: tuple[StrategyParams, Conditions]) -> None:
    document: dict[str, Any] = result.document
    summary = document["summary"]
    st.info(f"**Verdict:** {summary['verdict']}")
    st.dataframe(_fold_table(document), hide_index=True, key="optimize_folds_table")
    for index, figure in enumerate(report_figures(result.outcome, document)):
        st.plotly_chart(figure, key=f"optimize_chart_{index}")
    best = document["best"]
    if best is None:
        return
    st.subheader("Best settings (latest fold)")
    changes = _changes(current, best)
    st.dataframe(changes, hide_index=True, key="optimize_changes")
    if changes.empty:
        st.caption("These are already your settings.")
        return
    if not st.session_state.get(PENDING_KEY):
        st.button("Use these settings…", key="optimize_use", on_click=_set_pending, args=(True,))
        return
    st.warning(
        "This replaces your strategy settings with the ones above. Your running bot applies them at "
        "its next closed candle. Save them?"
    )
    columns = st.columns(2)
    study_params = result.outcome.request.base
    columns[0].button(
        "Confirm: save as my settings", type="primary", key="optimize_confirm",
        on_click=_confirm, args=(username, best, study_params),
    )  # fmt: skip
    columns[1].button("Cancel", key="optimize_cancel", on_click=_set_pending, args=(False,))


def _set_pending(pending: bool) -> None:
    st.session_state[PENDING_KEY] = pending


def _show_notice() -> None:
    notice: Notice | None = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        kind, text = notice
        {"success": st.success, "info": st.info, "error": st.error}[kind](text)


def _render() -> None:
    st.title("Optimize")
    username = require_user()
    st.markdown(INTRODUCTION)
    _show_notice()
    try:
        current = load_user_settings(home(), username)
    except TradebotError as error:
        st.error(f"Your settings files cannot be read: {error}. Fix them on Set Config first.")
        return
    params, conditions = current
    st.caption(f"Candles: your cached {params.market} {params.interval.value} history.")
    choice = _choice()
    if choice is not None:
        _run(username, params, conditions, choice)
    result: StudyResult | None = st.session_state.get(RESULT_KEY)
    if result is not None:
        _show_result(username, result, current)


_render()
