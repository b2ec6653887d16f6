"""Audit Viewer: why each buy and sell happened, one row per candle, sorted by candle start.

Three tabs: `buy_eval` (every closed candle while flat), `sell_eval` (every closed candle in a
position, plus price-rule triggers between closes) and `trade_audit` (every executed trade). Only
the logged-in user's database is opened, read-only; filters, sort and row limit run in SQLite
(`services.audit_query`), so the page stays fast with 100,000 rows.

The Trades tab traces a chosen trade (`tradebot why`, issue 13): its order and fill, candle, rule or
command, conditions and settings, AI on or off (`ui.components.trade_trace`).

When the user's AI review is on (issue 8), each tab can also explain one of its first rows shown
(a trade through the evaluation behind it); the explanation and the call are recorded in the
user's database, so only that request opens it for writing. While it is off, one caption says where
to enable it and nothing is sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from tradebot.core.clock import SystemClock
from tradebot.core.errors import TradebotError
from tradebot.core.i18n.formats import minute
from tradebot.core.models import Interval
from tradebot.services.ai_review.client import CallStatus
from tradebot.services.ai_review.features import (
    EvaluationKey,
    ai_status,
    evaluation_for_order,
    explain_evaluation,
    result_message,
)
from tradebot.services.ai_review.setup import AiRuntime
from tradebot.services.ai_review.store import read_settings
from tradebot.services.audit_labels import code_label, labelled_csv, labelled_frame
from tradebot.services.audit_query import (
    AUDIT_TABLES,
    CONDITION_KEYS,
    DECISIONS,
    AuditFilter,
    AuditTable,
    audit_frame,
    count_rows,
    market_intervals,
    open_audit_connection,
    settings_versions,
)
from tradebot.services.paths import database_path
from tradebot.services.records import TradeCause, TriggerKind
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store
from tradebot.services.storage.codecs import KST
from tradebot.services.trade_trace import EvaluationTable
from tradebot.ui.components.trade_trace import trace_controls
from tradebot.ui.i18n import current_language, t
from tradebot.ui.session import home, require_user, user_store

ANY = "any"
DEFAULT_ROWS = 500
MAX_ROWS = 10_000
CAUSES: dict[str, TradeCause] = {cause: cause for cause in get_args(TradeCause)}
TRIGGERS: dict[str, TriggerKind] = {kind: kind for kind in get_args(TriggerKind)}
EVALUATION_TABLES: dict[AuditTable, EvaluationTable] = {"buy_eval": "buy_eval", "sell_eval": "sell_eval"}
EXPLAIN_CHOICES = 200  # the first rows shown can be explained: the choice list stays small
LABEL_COLUMNS: dict[AuditTable, tuple[str, ...]] = {  # what labels a row and finds its evaluation
    "buy_eval": ("candle_start", "market", "interval", "decision"),
    "sell_eval": ("candle_start", "trigger_kind", "market", "interval", "decision"),
    "trade_audit": ("candle_start", "market", "side", "order_identifier"),
}
Row = Mapping[Hashable, Any]  # one row of a shown frame, as `DataFrame.to_dict("records")` gives it


def _any(option: str) -> str:
    return t("audit.any") if option == ANY else option


def _any_code(option: str) -> str:
    return t("audit.any") if option == ANY else f"{code_label(option, current_language())}"


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=KST)


def _date_range(
    column_from: DeltaGenerator, column_to: DeltaGenerator
) -> tuple[datetime | None, datetime | None]:
    chosen_from = column_from.date_input(t("audit.from"), value=None, key="audit_from")
    chosen_to = column_to.date_input(t("audit.to"), value=None, key="audit_to")
    start = _day_start(chosen_from) if isinstance(chosen_from, date) else None
    end = _day_start(chosen_to + timedelta(days=1)) if isinstance(chosen_to, date) else None
    if start is not None and end is not None and start >= end:
        st.error(t("audit.from_after_to"))
    return start, end


def _common_filter(connection: sqlite3.Connection) -> tuple[AuditFilter, int]:
    """The filters above the tabs (dates, market, order) and the number of rows to show."""
    columns = st.columns([2, 2, 3, 2, 2])
    start, end = _date_range(columns[0], columns[1])
    pairs = {f"{market} {interval}": (market, interval) for market, interval in market_intervals(connection)}
    chosen = columns[2].selectbox(t("audit.market"), [ANY, *pairs], key="audit_market", format_func=_any)
    market, interval = pairs.get(chosen or ANY, (None, None))
    limit = columns[3].number_input(
        t("audit.rows"), min_value=1, max_value=MAX_ROWS, value=DEFAULT_ROWS, step=100, key="audit_limit"
    )
    newest_first = columns[4].toggle(t("audit.newest_first"), value=True, key="audit_newest")
    common = AuditFilter(start=start, end=end, market=market, interval=interval, newest_first=newest_first)
    return common, int(limit or DEFAULT_ROWS)


def _choice(label: str, options: tuple[str, ...], key: str, column: DeltaGenerator) -> str | None:
    chosen = column.selectbox(label, [ANY, *options], key=key, format_func=_any_code)
    return None if chosen in (None, ANY) else str(chosen)


def _table_filter(table: AuditTable, common: AuditFilter) -> AuditFilter:
    """The tab's own filters (decision, failed condition, trigger or cause) on top of the common ones."""
    columns = st.columns(3)
    label = t("audit.side" if table == "trade_audit" else "audit.decision")
    decision = _choice(label, DECISIONS[table], f"audit_{table}_decision", columns[0])
    criteria = replace(common, decision=decision)
    if table != "trade_audit":
        failed = _choice(
            t("audit.condition_failed"), CONDITION_KEYS[table], f"audit_{table}_failed", columns[1]
        )
        criteria = replace(criteria, failed_condition=failed)
    if table == "sell_eval":
        trigger = _choice(t("audit.trigger"), tuple(TRIGGERS), "audit_sell_eval_trigger", columns[2])
        criteria = replace(criteria, trigger_kind=TRIGGERS.get(trigger or ANY))
    if table == "trade_audit":
        cause = _choice(t("audit.cause"), tuple(CAUSES), "audit_trade_audit_cause", columns[1])
        criteria = replace(criteria, cause=CAUSES.get(cause or ANY))
    return criteria


def _csv_maker(path: Path, table: AuditTable, criteria: AuditFilter) -> Callable[[], str]:
    # Streamlit calls this on another thread when the button is clicked: it opens its own connection
    # (SQLite connections are per thread) and builds the whole file only then, not on every rerun.
    # The language is read now: the session's state is not this page run's on that thread.
    language = current_language()

    def build() -> str:
        with open_audit_connection(path) as connection:
            return labelled_csv(audit_frame(connection, table, criteria, limit=None), language)

    return build


@dataclass(frozen=True, slots=True)
class Explainer:
    """Whose rows are explained, and the AI runtime that explains them."""

    username: str
    runtime: AiRuntime


def _explainer(username: str) -> Explainer | None:
    """An explainer while the user's AI review is on; otherwise one caption and None."""
    try:
        with user_store(username) as store:
            settings = read_settings(store, username)
            if settings is None or not settings.enabled:
                st.caption(t("audit.ai_off"))  # checked first: no key box is opened (or created) while off
                return None
            runtime = AiRuntime(box=SecretBox.for_home(home()), clock=SystemClock())
            if ai_status(store, username, runtime).enabled:
                return Explainer(username, runtime)
    except TradebotError as error:
        st.caption(t("audit.ai_unavailable", error=error))
        return None
    st.caption(t("audit.ai_off"))
    return None


def _row_label(table: AuditTable, number: int, row: Row) -> str:
    when = minute(row["candle_start"].to_pydatetime(), current_language())
    if table == "trade_audit":
        return f"{number}. {when} · {row['market']} · {row['side']} · {row['order_identifier']}"
    trigger = f" ({row['trigger_kind']})" if table == "sell_eval" else ""
    return f"{number}. {when}{trigger} · {row['market']} {row['interval']} · {row['decision']}"


def _explainable(table: AuditTable, frame: pd.DataFrame) -> dict[str, Row]:
    """The first rows shown that can be explained, by their label (numbered as shown)."""
    choices: dict[str, Row] = {}
    shown = frame.head(EXPLAIN_CHOICES)[list(LABEL_COLUMNS[table])]
    for number, row in enumerate(shown.to_dict("records"), start=1):
        if table == "trade_audit" and (pd.isna(row["order_identifier"]) or pd.isna(row["candle_start"])):
            continue  # a manual trade has no candle and no evaluation behind it
        choices[_row_label(table, number, row)] = row
    return choices


def _target(store: Store, table: AuditTable, row: Row) -> tuple[EvaluationTable, EvaluationKey] | None:
    evaluation_table = EVALUATION_TABLES.get(table)
    if evaluation_table is None:  # a trade: the evaluation that placed its order
        return evaluation_for_order(store, str(row["order_identifier"]))
    key = EvaluationKey(
        market=str(row["market"]),
        interval=Interval(str(row["interval"])),
        candle_start=row["candle_start"].to_pydatetime(),
        trigger_kind=TRIGGERS[str(row["trigger_kind"])] if table == "sell_eval" else "close",
    )
    return evaluation_table, key


def _explain(explainer: Explainer, table: AuditTable, row: Row) -> None:
    try:
        with user_store(explainer.username) as store:
            target = _target(store, table, row)
            if target is None:
                st.info(t("audit.no_evaluation"))
                return
            with st.spinner(t("audit.asking")):
                result = explain_evaluation(
                    store, explainer.username, target[0], target[1], explainer.runtime
                )
    except TradebotError as error:
        st.error(t("audit.cannot_explain", error=error))
        return
    if not result.ok:
        warning = result.status in (CallStatus.BUDGET, CallStatus.DISABLED)
        (st.warning if warning else st.error)(result_message(result))
        return
    st.markdown(result.text)
    if result.cached:
        st.caption(t("audit.cached"))
    else:
        st.caption(t("audit.ai_call", call=result.call_id, cost=f"{result.cost_usd:.6f}"))


def _explain_controls(explainer: Explainer, table: AuditTable, frame: pd.DataFrame) -> None:
    choices = _explainable(table, frame)
    if not choices:
        return
    columns = st.columns([4, 1], vertical_alignment="bottom")
    chosen = columns[0].selectbox(
        t("audit.explain_row", count=EXPLAIN_CHOICES),
        list(choices),
        key=f"audit_{table}_explain_row",
    )
    clicked = columns[1].button(t("audit.explain"), key=f"audit_{table}_explain")
    if clicked and chosen is not None:
        _explain(explainer, table, choices[chosen])


def _table_tab(
    path: Path,
    connection: sqlite3.Connection,
    table: AuditTable,
    common: AuditFilter,
    limit: int,
    explainer: Explainer | None,
) -> None:
    criteria = _table_filter(table, common)
    total = count_rows(connection, table, criteria)
    frame = audit_frame(connection, table, criteria, limit)
    order = t("audit.newest" if criteria.newest_first else "audit.oldest")
    st.caption(t("audit.shown", shown=f"{len(frame):,}", total=f"{total:,}", order=order))
    st.dataframe(labelled_frame(frame, current_language()), hide_index=True)
    st.download_button(
        t("audit.download", total=f"{total:,}"), data=_csv_maker(path, table, criteria),
        file_name=f"{table}.csv", mime="text/csv", key=f"audit_{table}_csv", on_click="ignore",
        disabled=total == 0,
    )  # fmt: skip
    if table == "trade_audit":
        trace_controls(path, frame)  # AI on or off: read from the audit alone
    if explainer is not None:
        _explain_controls(explainer, table, frame)


def _settings_versions(connection: sqlite3.Connection) -> None:
    with st.expander(t("audit.versions")):
        versions = settings_versions(connection)
        if versions.empty:
            st.info(t("audit.no_versions"))
            return
        st.dataframe(labelled_frame(versions.drop(columns=["content"]), current_language()), hide_index=True)
        numbers = [int(number) for number in versions["version"]]
        chosen = st.selectbox(t("audit.show_version"), numbers, index=len(numbers) - 1, key="audit_version")
        content = versions.loc[versions["version"] == chosen, "content"]
        if not content.empty:
            st.json(str(content.iloc[0]))


def _render() -> None:
    st.title(t("audit.title"))
    username = require_user()
    path = database_path(home(), username)
    st.caption(t("audit.caption", legend=t("audit.legend")))
    try:
        with open_audit_connection(path) as connection:
            explainer = _explainer(username)
            common, limit = _common_filter(connection)
            for table, tab in zip(
                AUDIT_TABLES, st.tabs([t(f"audit.tab.{table}") for table in AUDIT_TABLES]), strict=True
            ):
                with tab:
                    _table_tab(path, connection, table, common, limit, explainer)
            _settings_versions(connection)
    except (TradebotError, sqlite3.Error, ValueError) as error:
        st.error(t("audit.unreadable", error=error))


_render()
