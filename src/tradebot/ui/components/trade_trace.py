"""The Trades tab's "why did this trade happen?": the `tradebot why` trace of a chosen row.

Shown whether the AI review is on or off: it is read from the audit alone (`services.trade_trace`),
with the user's database opened read-only, and is the same text the command prints.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.core.i18n.formats import minute
from tradebot.services.audit_labels import code_label
from tradebot.services.storage import Store
from tradebot.services.trade_trace import trace_trade
from tradebot.services.trade_trace_text import trace_document, trace_lines
from tradebot.ui.i18n import current_language, t

TRACE_CHOICES = 200  # the first rows shown can be traced: the choice list stays small
Row = Mapping[Hashable, Any]


def trade_label(number: int, row: Row) -> str:
    """`3. 2026-03-10 16:00 KST · KRW-BTC · buy · strategy entry · trade #12` (numbered as shown)."""
    moment: pd.Timestamp = row["candle_start"] if not pd.isna(row["candle_start"]) else row["executed_at"]
    language = current_language()
    when = minute(moment.to_pydatetime(), language)
    rule: str = "" if pd.isna(row["rule"]) else f" {code_label(row['rule'], language)}"
    side, cause = code_label(row["side"], language), code_label(row["cause"], language)
    return f"{number}. {when} · {row['market']} · {side} · {cause}{rule} · {t('trace.trade', id=row['id'])}"


def trace_controls(path: Path, frame: pd.DataFrame) -> None:
    """A choice of the first trades shown and the trace of the chosen one."""
    rows = frame.head(TRACE_CHOICES).to_dict("records")
    choices = {trade_label(number, row): int(row["id"]) for number, row in enumerate(rows, start=1)}
    if not choices:
        return
    chosen = st.selectbox(
        t("trace.choose"),
        list(choices),
        key="audit_trade_audit_why_row",
    )
    if chosen is None:
        return
    try:
        with Store.open_read_only(path) as store:
            trace = trace_trade(store, choices[chosen])
    except TradebotError as error:
        st.error(t("trace.cannot", error=error))
        return
    if trace is None:
        st.info(t("trace.gone"))
        return
    st.code("\n".join(trace_lines(trace_document(trace))), language=None)
