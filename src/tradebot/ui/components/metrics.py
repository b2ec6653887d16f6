"""Metric cards and the number formats of the dashboard (KRW with thousands separators)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from tradebot.core.i18n import text_or
from tradebot.core.i18n.formats import age, krw_number, money, second
from tradebot.services.records import Command
from tradebot.ui.dashboard_data import ProfitFigures
from tradebot.ui.i18n import current_language, t

UNKNOWN = "—"
MARKDOWN_SPECIALS = "\\`*_{}[]<>()#+-.!|~$"
PENDING_TOO_LONG = timedelta(seconds=15)  # three engine cycles


def format_krw(value: Decimal | None, *, signed: bool = False, unit: bool = True) -> str:
    """`1,234,567 KRW` (Korean: `1,234,567원`); small amounts keep up to 4 decimals; None is a dash."""
    if value is None:
        return UNKNOWN
    return money(value, current_language(), signed=signed) if unit else krw_number(value, signed=signed)


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


def format_age(elapsed: timedelta | None) -> str:
    """`4 s ago`, `3 min ago`, `2 h ago` (Korean `4초 전` …); a dash when unknown."""
    return age(elapsed, current_language())


def format_time(moment: datetime | None) -> str:
    """A moment in KST to the second (`2026-03-01 18:15:00 KST`; Korean without the zone); None is a dash."""
    return second(moment, current_language())


def render_profit_metrics(figures: ProfitFigures) -> None:
    """Two rows of cards: balances and position, then profit (amounts in KRW, named in the labels)."""
    holding = figures.holding
    market = holding.market.removeprefix("KRW-") if holding else ""
    first = st.columns(4)
    first[0].metric(t("metrics.krw", mode=figures.mode), format_krw(figures.krw, unit=False))
    volume = format_volume(holding.volume if holding else Decimal(0))
    first[1].metric(t("metrics.coin_volume", coin=market).strip(), volume)
    first[2].metric(
        t("metrics.position_value"),
        format_krw(figures.position_value if holding else Decimal(0), unit=False),
        help=t("metrics.position_value_help") + _price_note(figures),
    )
    entry = format_krw(holding.entry_price if holding else None, unit=False)
    first[3].metric(t("metrics.entry_price"), entry)
    second = st.columns(4)
    second[0].metric(
        t("metrics.unrealised"),
        format_krw(figures.unrealised_profit, signed=True, unit=False) if holding else UNKNOWN,
        help=t("metrics.unrealised_help"),
    )
    second[1].metric(t("metrics.realised"), format_krw(figures.realised_profit, signed=True, unit=False))
    second[2].metric(
        t("metrics.equity"), format_krw(figures.equity, unit=False), help=t("metrics.equity_help")
    )
    second[3].metric(
        t("metrics.return"),
        format_percent(figures.return_since_start),
        help=t("metrics.return_help", start=format_krw(figures.starting_krw)),
    )


def _price_note(figures: ProfitFigures) -> str:
    if figures.latest_price is None:
        return t("metrics.no_candle")
    return t(
        "metrics.price_at",
        price=format_krw(figures.latest_price),
        moment=format_time(figures.latest_price_at),
    )


def escape_markdown(text: str) -> str:
    """`text` shown literally by Streamlit's markdown (reasons contain names like golden_cross)."""
    return "".join("\\" + character if character in MARKDOWN_SPECIALS else character for character in text)


def command_rows(commands: list[Command], now: datetime) -> pd.DataFrame:
    """The recent commands as a table: what, who, when, the engine's acknowledgement and answer."""
    columns = ["#", "command", "details", "by", "sent", "status", "answer"]
    frame = pd.DataFrame(
        [
            {
                "#": command.id,
                "command": text_or(f"command.{command.kind}", command.kind, current_language()),
                "details": ", ".join(f"{key}={value}" for key, value in command.args.items()),
                "by": command.requested_by,
                "sent": format_age(now - command.requested_at),
                "status": text_or(f"command_status.{command.status}", command.status, current_language()),
                "answer": command.result_message or "",
            }
            for command in commands
        ],
        columns=columns,
    )
    return frame.rename(
        columns={name: t(f"commands.column.{'number' if name == '#' else name}") for name in columns}
    )


def render_commands(commands: list[Command], now: datetime) -> None:
    """Recent commands, with a warning when the engine leaves one unanswered for long."""
    st.subheader(t("commands.title"))
    if not commands:
        st.caption(t("commands.none"))
        return
    waiting = [command for command in commands if command.status in ("pending", "claimed")]
    if any(now - command.requested_at > PENDING_TOO_LONG for command in waiting):
        st.warning(t("commands.waiting"))
    st.dataframe(command_rows(commands, now), hide_index=True)
