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
from tradebot.services.health_monitor import health_file_age, read_health, read_user_health, to_jsonable
from tradebot.services.paths import database_path
from tradebot.services.storage.codecs import KST
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
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.1f} h ago"


def _stamp(value: object) -> str:
    moment = _moment(value)
    return "—" if moment is None else moment.astimezone(KST).strftime("%Y-%m-%d %H:%M:%S KST")


def _stale_limit(document: Document) -> float:
    return STALE_CYCLES * (_number(document, "cycle_seconds") or DEFAULT_CYCLE_SECONDS)


def _engine_section(document: Document | None, now: datetime) -> None:
    st.subheader("Engine")
    if document is None:
        st.error(
            "The engine is not running: it has written no health file (health.json). "
            "Start it with `tradebot engine`. Your loop's last state, read from your database, is below."
        )
        return
    age = health_file_age(document, now)
    written = _stamp(document.get("generated_at"))
    if age is None or age > _stale_limit(document):
        shown = "of unknown age" if age is None else f"{_ago(age)} ({written})"
        st.warning(
            f"The engine's health file is {shown}: the engine has stopped or hangs, so the figures "
            "below are old. Restart `tradebot engine`."
        )
        return
    st.success(f"Engine `{document.get('engine_id', '?')}` is running; last report {_ago(age)} ({written}).")


def _process_section(document: Document) -> None:
    process = document.get("process")
    users = document.get("users")
    columns = st.columns(5)
    served = len(users) if isinstance(users, list) else 0
    columns[4].metric("Users served", served)
    if not isinstance(process, Mapping):
        st.caption("No process figures in the health file.")
        return
    rss, cpu = _number(process, "rss_bytes"), _number(process, "cpu_percent")
    uptime, threads = _number(process, "uptime_seconds"), _number(process, "threads")
    columns[0].metric("Memory (RSS)", "—" if rss is None else f"{rss / MEBIBYTE:,.0f} MiB")
    columns[1].metric("CPU", "—" if cpu is None else f"{cpu:.1f} %")
    columns[2].metric("Uptime", "—" if uptime is None else str(timedelta(seconds=int(uptime))))
    columns[3].metric("Threads", "—" if threads is None else f"{threads:.0f}")


def _rate_section(document: Document) -> None:
    st.subheader("Upbit rate limits (whole engine)")
    groups = document.get("rate_groups")
    if not isinstance(groups, Mapping) or not groups:
        st.caption("No requests counted yet.")
        return
    rows = []
    for group, found in groups.items():
        counts: Document = found if isinstance(found, Mapping) else {}
        throttled, blocked = _number(counts, "throttled") or 0, _number(counts, "blocked") or 0
        status = "blocked (418)" if blocked else "throttled (429)" if throttled else "ok"
        rows.append(
            {"group": str(group), "requests": int(_number(counts, "requests") or 0),
             "429 throttled": int(throttled), "418 blocked": int(blocked), "status": status}
        )  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if any(row["status"] != "ok" for row in rows):
        st.warning(
            "Upbit has throttled (429) or blocked (418) requests since the engine started: the client "
            "backs off and waits, so trading may lag."
        )


def _own_entry(username: str, document: Document | None, now: datetime) -> tuple[Document | None, str]:
    """This user's entry from the engine's file, else from the user's own database; and its source."""
    users = document.get("users") if document is not None else None
    for entry in users if isinstance(users, list) else ():
        if isinstance(entry, Mapping) and entry.get("username") == username:
            return entry, "the engine's last report"
    stale = _stale_limit(document or {})
    if not database_path(home(), username).exists():  # reading must never create a database
        st.error(f"No database for {username}: create the user with `tradebot user add`.")
        return None, ""
    try:
        health = read_user_health(home(), username, now, stale)
    except TradebotError as error:
        st.error(f"Your loop's status cannot be read: {error}")
        return None, ""
    return to_jsonable(asdict(health)), "your database (the engine has not reported on you)"


def _loop_section(username: str, document: Document | None, now: datetime) -> None:
    st.subheader("Your trading loop")
    entry, source = _own_entry(username, document, now)
    if entry is None:
        return
    heartbeat = _moment(entry.get("heartbeat_at"))
    columns = st.columns(4)
    columns[0].metric("State", str(entry.get("state", "unknown")))
    columns[1].metric("Mode", str(entry.get("mode", "?")))
    columns[2].metric("Should run", "yes" if entry.get("desired_running") else "no")
    columns[3].metric("Heartbeat", _ago(None if heartbeat is None else (now - heartbeat).total_seconds()))
    columns = st.columns(4)
    cycle, errors = _number(entry, "cycle_duration_seconds"), _number(entry, "consecutive_errors")
    columns[0].metric("Last cycle", "—" if cycle is None else f"{cycle:.2f} s")
    columns[1].metric("Errors in a row", "—" if errors is None else f"{errors:.0f}")
    columns[2].metric("Open positions", f"{_number(entry, 'open_positions') or 0:.0f}")
    columns[3].metric("Last closed candle", _stamp(entry.get("last_closed_candle")))
    st.caption(f"Last price fetch: {_stamp(entry.get('last_fetch_at'))}. Source: {source}.")
    if entry.get("alert"):
        st.error(str(entry["alert"]))
    notes = entry.get("safeguards")
    for note in notes if isinstance(notes, list) else ():  # Upbit flags on its markets, read problems
        st.warning(f"Upbit: {note}")
    if entry.get("key_expires_at"):
        st.caption(f"LIVE API key expires {_stamp(entry.get('key_expires_at'))}.")
    _positions_table(entry)
    if entry.get("last_error"):
        st.warning(f"Last error: {entry['last_error']}")


def _positions_table(entry: Document) -> None:
    """Each open position (any mode and market) and what checks its price exits."""
    found = entry.get("positions")
    positions = [item for item in found if isinstance(item, Mapping)] if isinstance(found, list) else []
    if not positions:
        return
    rows = [
        {
            "mode": str(item.get("mode")), "market": str(item.get("market")),
            "volume": str(item.get("volume")), "entry price": str(item.get("entry_price") or "unknown"),
            "guarded by": "NOTHING" if item.get("guarded_by") == "nothing" or item.get("problem")
            else str(item.get("guarded_by")),
            "problem": str(item.get("problem") or ""),
        }
        for item in positions
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _render() -> None:
    st.title("Health")
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
