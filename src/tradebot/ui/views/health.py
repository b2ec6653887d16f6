"""Health: is the engine running, is your loop alive, and is Upbit throttling us?

Reads `{home}/health.json`, which the engine rewrites every cycle (`services.health_monitor`). The
page shows the process-wide figures (memory, CPU, uptime, threads, requests and throttling per
Upbit rate group, how many users the engine serves) and only the logged-in user's own entry: other
users' names, states and errors are never shown. Without a fresh file (engine stopped or hung) it
says so, and reads the user's loop status from the user's own database instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.core.i18n import text_or
from tradebot.core.i18n.formats import age as format_age
from tradebot.core.i18n.formats import second
from tradebot.services.health_monitor import health_file_age, read_health, read_user_health, to_jsonable
from tradebot.services.paths import database_path
from tradebot.ui.i18n import current_language, t
from tradebot.ui.session import home, require_user

STALE_CYCLES = 3  # as `tradebot health --max-age-cycles`
DEFAULT_CYCLE_SECONDS = 5.0
MEBIBYTE = 1_048_576
Document = Mapping[str, Any]


def _number(document: Document, key: str) -> float | None:
    value = document.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return t("format.never")
    return format_age(timedelta(seconds=seconds), current_language())


def _stamp(value: object) -> str:
    return second(_moment(value), current_language())


def _state(value: object) -> str:
    state = str(value or "unknown")
    return text_or(f"engine_state.{state}", state, current_language())


def _stale_limit(document: Document) -> float:
    return STALE_CYCLES * (_number(document, "cycle_seconds") or DEFAULT_CYCLE_SECONDS)


def _engine_section(document: Document | None, now: datetime) -> None:
    st.subheader(t("health.engine"))
    if document is None:
        st.error(t("health.no_file"))
        return
    age = health_file_age(document, now)
    written = _stamp(document.get("generated_at"))
    if age is None or age > _stale_limit(document):
        shown = t("health.unknown_age") if age is None else f"{_ago(age)} ({written})"
        st.warning(t("health.stale", shown=shown))
        return
    st.success(t("health.running", engine=document.get("engine_id", "?"), ago=_ago(age), written=written))


def _process_section(document: Document) -> None:
    process = document.get("process")
    users = document.get("users")
    columns = st.columns(5)
    served = len(users) if isinstance(users, list) else 0
    columns[4].metric(t("health.users_served"), served)
    if not isinstance(process, Mapping):
        st.caption(t("health.no_process"))
        return
    rss, cpu = _number(process, "rss_bytes"), _number(process, "cpu_percent")
    uptime, threads = _number(process, "uptime_seconds"), _number(process, "threads")
    columns[0].metric(t("health.memory"), "—" if rss is None else f"{rss / MEBIBYTE:,.0f} MiB")
    columns[1].metric(t("health.cpu"), "—" if cpu is None else f"{cpu:.1f} %")
    columns[2].metric(t("health.uptime"), "—" if uptime is None else str(timedelta(seconds=int(uptime))))
    columns[3].metric(t("health.threads"), "—" if threads is None else f"{threads:.0f}")


def _rate_section(document: Document) -> None:
    st.subheader(t("health.rate_limits"))
    groups = document.get("rate_groups")
    if not isinstance(groups, Mapping) or not groups:
        st.caption(t("health.no_requests"))
        return
    rows, limited = [], False
    for group, found in groups.items():
        counts: Document = found if isinstance(found, Mapping) else {}
        throttled, blocked = _number(counts, "throttled") or 0, _number(counts, "blocked") or 0
        status = "blocked" if blocked else "throttled" if throttled else "ok"
        rows.append(
            {t("health.column.group"): str(group),
             t("health.column.requests"): int(_number(counts, "requests") or 0),
             t("health.column.throttled"): int(throttled), t("health.column.blocked"): int(blocked),
             t("health.column.status"): t(f"health.rate_status.{status}")}
        )  # fmt: skip
        limited = limited or status != "ok"
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if limited:
        st.warning(t("health.rate_warning"))


def _own_entry(username: str, document: Document | None, now: datetime) -> tuple[Document | None, str]:
    """This user's entry from the engine's file, else from the user's own database; and its source."""
    users = document.get("users") if document is not None else None
    for entry in users if isinstance(users, list) else ():
        if isinstance(entry, Mapping) and entry.get("username") == username:
            return entry, t("health.source_engine")
    stale = _stale_limit(document or {})
    if not database_path(home(), username).exists():  # reading must never create a database
        st.error(t("health.no_database", username=username))
        return None, ""
    try:
        health = read_user_health(home(), username, now, stale)
    except TradebotError as error:
        st.error(t("health.unreadable", error=error))
        return None, ""
    return to_jsonable(asdict(health)), t("health.source_database")


def _loop_section(username: str, document: Document | None, now: datetime) -> None:
    st.subheader(t("health.your_loop"))
    entry, source = _own_entry(username, document, now)
    if entry is None:
        return
    heartbeat = _moment(entry.get("heartbeat_at"))
    columns = st.columns(4)
    columns[0].metric(t("health.state"), _state(entry.get("state")))
    columns[1].metric(t("health.mode"), str(entry.get("mode", "?")))
    should_run = t("health.yes" if entry.get("desired_running") else "health.no")
    columns[2].metric(t("health.should_run"), should_run)
    silence = None if heartbeat is None else (now - heartbeat).total_seconds()
    columns[3].metric(t("health.heartbeat"), _ago(silence))
    columns = st.columns(4)
    cycle, errors = _number(entry, "cycle_duration_seconds"), _number(entry, "consecutive_errors")
    columns[0].metric(t("health.last_cycle"), "—" if cycle is None else f"{cycle:.2f} s")
    columns[1].metric(t("health.errors_in_a_row"), "—" if errors is None else f"{errors:.0f}")
    columns[2].metric(t("health.open_positions"), f"{_number(entry, 'open_positions') or 0:.0f}")
    columns[3].metric(t("health.last_candle"), _stamp(entry.get("last_closed_candle")))
    st.caption(t("health.last_fetch", moment=_stamp(entry.get("last_fetch_at")), source=source))
    if entry.get("alert"):
        st.error(str(entry["alert"]))
    notes = entry.get("safeguards")
    for note in notes if isinstance(notes, list) else ():  # Upbit flags on its markets, read problems
        st.warning(f"Upbit: {note}")
    if entry.get("key_expires_at"):
        st.caption(f"LIVE API key expires {_stamp(entry.get('key_expires_at'))}.")
    _positions_table(entry)
    if entry.get("last_error"):
        st.warning(t("health.last_error", error=entry["last_error"]))


def _positions_table(entry: Document) -> None:
    """Each open position (any mode and market) and what checks its price exits."""
    found = entry.get("positions")
    positions = [item for item in found if isinstance(item, Mapping)] if isinstance(found, list) else []
    if not positions:
        return
    rows = [
        {
            t("health.column.mode"): str(item.get("mode")),
            t("health.column.market"): str(item.get("market")),
            t("health.column.volume"): str(item.get("volume")),
            t("health.column.entry"): str(item.get("entry_price") or t("health.unknown")),
            t("health.column.guarded_by"): t("health.nothing") if item.get("guarded_by") == "nothing"
            or item.get("problem") else str(item.get("guarded_by")),
            t("health.column.problem"): str(item.get("problem") or ""),
        }
        for item in positions
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _render() -> None:
    st.title(t("health.title"))
    username = require_user()
    now = datetime.now(UTC)
    document = read_health(home())
    _engine_section(document, now)
    if document is not None:
        _process_section(document)
    _loop_section(username, document, now)
    if document is not None:
        _rate_section(document)


_render()
