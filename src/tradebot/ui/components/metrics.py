"""Metric cards and the number formats of the dashboard (KRW with thousands separators)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pandas as pd
import streamlit as st

from tradebot.services.records import Command
from tradebot.ui.dashboard_data import ProfitFigures

UNKNOWN = "—"
MARKDOWN_SPECIALS = "\\`*_{}[]<>()#+-.!|~$"
PENDING_TOO_LONG = timedelta(seconds=15)  # three engine cycles
WHOLE_KRW_FROM = Decimal(100)  # below this (cheap coins' prices) decimals matter


def format_krw(value: Decimal | None, *, signed: bool = False, unit: bool = True) -> str:
    """`1,234,567 KRW`; small amounts keep up to 4 decimals (`0.0123 KRW`); None is a dash."""
    if value is None:
        return UNKNOWN
    sign = "+" if signed and value > 0 else ""
    if abs(value) >= WHOLE_KRW_FROM:
        text = f"{value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN):,}"
    else:
        text = f"{value.quantize(Decimal('0.0001'), rounding=ROUND_HALF_EVEN):,f}".rstrip("0").rstrip(".")
    return f"{sign}{text} KRW" if unit else f"{sign}{text}"


def format_volume(value: Decimal | None) -> str:
    """A coin volume with up to 8 decimals (Upbit's precision)."""
    if value is None:
        return UNKNOWN
    text = f"{value.quantize(Decimal('0.00000001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_percent(value: Decimal | None) -> str:
    """A fraction as a signed percentage: 0.0512 -> `+5.12%`."""
    if value is None:
        return UNKNOWN
    return f"{value * 100:+.2f}%"


def format_age(age: timedelta | None) -> str:
    """`4 s ago`, `3 min ago`, `2 h ago`; a dash when unknown."""
    if age is None:
        return UNKNOWN
    seconds = max(0, int(age.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def format_time(moment: datetime | None) -> str:
    """A UTC timestamp to the second, e.g. `2026-03-01 09:15:00 UTC`."""
    return UNKNOWN if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_profit_metrics(figures: ProfitFigures) -> None:
    """Two rows of cards: balances and position, then profit (amounts in KRW, named in the labels)."""
    holding = figures.holding
    market = holding.market.removeprefix("KRW-") if holding else ""
    first = st.columns(4)
    first[0].metric(f"KRW ({figures.mode})", format_krw(figures.krw, unit=False))
    first[1].metric(f"Coin volume {market}".strip(), format_volume(holding.volume if holding else Decimal(0)))
    first[2].metric(
        "Position value (KRW)",
        format_krw(figures.position_value if holding else Decimal(0), unit=False),
        help="Volume × the latest cached candle close" + _price_note(figures),
    )
    first[3].metric("Entry price (KRW)", format_krw(holding.entry_price if holding else None, unit=False))
    second = st.columns(4)
    second[0].metric(
        "Unrealised profit (KRW)",
        format_krw(figures.unrealised_profit, signed=True, unit=False) if holding else UNKNOWN,
        help="If sold now at the latest candle close, after both 0.05% fees",
    )
    second[1].metric("Realised profit (KRW)", format_krw(figures.realised_profit, signed=True, unit=False))
    second[2].metric("Equity (KRW)", format_krw(figures.equity, unit=False), help="KRW + position value")
    second[3].metric(
        "Return since start",
        format_percent(figures.return_since_start),
        help=f"Against the starting {format_krw(figures.starting_krw)}",
    )


def _price_note(figures: ProfitFigures) -> str:
    if figures.latest_price is None:
        return " (no candle cached yet)."
    return f": {format_krw(figures.latest_price)} at {format_time(figures.latest_price_at)}."


def escape_markdown(text: str) -> str:
    """`text` shown literally by Streamlit's markdown (reasons contain names like golden_cross)."""
    return "".join("\\" + character if character in MARKDOWN_SPECIALS else character for character in text)


def command_rows(commands: list[Command], now: datetime) -> pd.DataFrame:
    """The recent commands as a table: what, who, when, the engine's acknowledgement and answer."""
    return pd.DataFrame(
        [
            {
                "#": command.id,
                "command": command.kind,
                "details": ", ".join(f"{key}={value}" for key, value in command.args.items()),
                "by": command.requested_by,
                "sent": format_age(now - command.requested_at),
                "status": command.status,
                "answer": command.result_message or "",
            }
            for command in commands
        ],
        columns=["#", "command", "details", "by", "sent", "status", "answer"],
    )


def render_commands(commands: list[Command], now: datetime) -> None:
    """Recent commands, with a warning when the engine leaves one unanswered for long."""
    st.subheader("Recent commands")
    if not commands:
        st.caption("No commands sent yet.")
        return
    waiting = [command for command in commands if command.status in ("pending", "claimed")]
    if any(now - command.requested_at > PENDING_TOO_LONG for command in waiting):
        st.warning("A command has waited more than 15 s for the engine: is `tradebot engine` running?")
    st.dataframe(command_rows(commands, now), hide_index=True)
