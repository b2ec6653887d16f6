"""Dashboard: the engine's state, the controls, money, the chart, the latest signal and orders.

The buttons and forms queue commands for the engine (`trading_control`); this page never trades.
The live part refreshes every 5 s in a fragment, so typing in a form is never interrupted.

The controls, the position and the balance are always drawn, whatever the settings file holds: a
params file that cannot be used (the engine keeps trading on the settings it last applied) or a
database that cannot be read or written shows its error next to them, never instead of them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from tradebot.core.errors import TradebotError
from tradebot.core.params import StrategyParams
from tradebot.services.ai_review.prompts import parse_params
from tradebot.services.desired_state import DesiredState, desired_state
from tradebot.services.records import CommandKind, Mode, StoredOrder
from tradebot.services.settings_store import load_params
from tradebot.services.trading_control import build_request, submit_command
from tradebot.services.users import params_path
from tradebot.ui.components.chart import build_chart
from tradebot.ui.components.metrics import (
    escape_markdown,
    format_age,
    format_krw,
    format_time,
    format_volume,
    render_commands,
    render_profit_metrics,
)
from tradebot.ui.components.positions import render_positions
from tradebot.ui.components.safeguards import render_market_safeguards
from tradebot.ui.dashboard_data import DashboardData, EngineView, load_dashboard
from tradebot.ui.session import home, logged_in_username, require_user, user_store

REFRESH_SECONDS = 5
ORDER_COLUMNS = ["requested", "side", "market", "state", "volume", "average price", "KRW total", "error"]
FORCE_LABELS: dict[CommandKind, tuple[str, str]] = {  # kind -> (button, confirmation)
    "force_buy": ("Force buy", "I confirm: buy now at the market price, with the strategy's sizing"),
    "force_sell": ("Force sell", "I confirm: sell the whole position now at the market price"),
}


def send(username: str, kind: CommandKind, *, mode: Mode | None = None, reason: str | None = None) -> None:
    """Queue a command for the engine and say what happens next (a refusal is shown, not raised)."""
    try:
        request = build_request(kind, username, datetime.now(UTC), mode=mode, reason=reason)
        with user_store(username) as store:
            command_id = submit_command(store, username, request)
    except TradebotError as error:  # refused, or the database cannot take it (read-only, full)
        st.error(f"{kind.replace('_', ' ')} refused: {error}")
        return
    st.success(
        f"Sent {kind.replace('_', ' ')} (command #{command_id}). The engine applies it within one "
        f"cycle (~{REFRESH_SECONDS} s); its answer appears under Recent commands."
    )


def render_controls(username: str, desired: DesiredState | None) -> None:
    """Start / stop / pause / resume buttons, then the two force forms."""
    columns = st.columns(4)
    if columns[0].button("▶️ Start (TEST)", width="stretch"):
        send(username, "start", mode="TEST")
    if columns[1].button("⏹️ Stop", width="stretch"):
        send(username, "stop")
    if columns[2].button("⏸️ Pause", width="stretch", help="No new entries; exits keep running"):
        send(username, "pause")
    if columns[3].button("⏯️ Resume", width="stretch"):
        send(username, "resume")
    if desired is not None and desired.mode == "LIVE":
        st.caption("You last chose LIVE: start LIVE from Account & Mode (it needs the confirmation).")
    with st.expander("⚡ Force buy / force sell", expanded=False):
        left, right = st.columns(2)
        with left:
            force_form(username, "force_buy")
        with right:
            force_form(username, "force_sell")


def force_form(username: str, kind: CommandKind) -> None:
    """A force order: a required reason and an explicit confirmation before it is sent."""
    button, confirmation = FORCE_LABELS[kind]
    with st.form(f"{kind}_form"):
        st.markdown(f"**{button}**")
        reason = st.text_input("Reason (recorded in the audit)", key=f"{kind}_reason", max_chars=500)
        confirmed = st.checkbox(confirmation, key=f"{kind}_confirmed")
        submitted = st.form_submit_button(button)
    if not submitted:
        return
    if not confirmed:
        st.warning(f"Tick the confirmation to send the {button.lower()}.")
        return
    send(username, kind, reason=reason)


def render_engine(engine: EngineView) -> None:
    """One line on the engine, with a warning or error when it is failed, silent or never ran."""
    if engine.state is None:
        st.info("The engine has never run for you yet. Press Start (the `tradebot engine` service runs it).")
        return
    heartbeat = format_age(engine.heartbeat_age)
    line = f"Engine **{engine.label}** · mode **{engine.mode}** · heartbeat {heartbeat}"
    if engine.state == "failed":
        st.error(f"{line}\n\nFailed: {escape_markdown(engine.last_error or 'no reason recorded')}")
    elif engine.stale:
        st.warning(f"{line}\n\nNo recent heartbeat: the engine may be down.")
    elif engine.trading:
        st.success(line)
    else:
        st.info(line)
    wanted = "running" if engine.desired.running else "stopped"
    paused = ", paused" if engine.desired.paused else ""
    st.caption(f"Last accepted request: {wanted} in {engine.desired.mode}{paused}.")
    if engine.last_error and engine.state != "failed":
        st.caption(f"Last error: {escape_markdown(engine.last_error)}")


def render_signal(data: DashboardData) -> None:
    """The newest buy or sell evaluation's decision and reason."""
    st.subheader("Latest signal")
    signal = data.latest_signal
    if signal is None:
        st.caption("No candle evaluated yet (the engine writes one evaluation per closed candle).")
        return
    st.markdown(
        f"**{signal.decision.upper()}** · {signal.kind} evaluation of the candle starting "
        f"{format_time(signal.candle_start)} at {format_krw(signal.price)}"
    )
    st.caption(escape_markdown(signal.reason))


def order_rows(orders: list[StoredOrder]) -> pd.DataFrame:
    """Recent orders as a table."""
    return pd.DataFrame(
        [
            {
                "requested": format_time(order.requested_at),
                "side": "buy" if order.side == "bid" else "sell",
                "market": order.market,
                "state": order.state,
                "volume": format_volume(order.executed_volume or order.volume),
                "average price": format_krw(order.average_price),
                "KRW total": format_krw(order.price),
                "error": order.error_name or "",
            }
            for order in orders
        ],
        columns=ORDER_COLUMNS,
    )


@st.fragment(run_every=REFRESH_SECONDS)
def live_panel(username: str, params: StrategyParams) -> None:
    """Everything that changes while the engine runs; redrawn every few seconds on its own.

    Each refresh checks the login first: a session ended elsewhere (logout, password change,
    expiry) reruns the whole app, which then shows the login page instead of the user's data.
    """
    if logged_in_username(touch=False) != username:
        st.rerun()
    now = datetime.now(UTC)
    try:
        with user_store(username) as store, store.snapshot() as reader:
            data = load_dashboard(reader, params, now)
    except TradebotError as error:
        st.error(f"Cannot read your data: {error}")
        return
    render_engine(data.engine)
    for protection in data.protections:  # exits and stop losses keep running: a notice, not an error
        st.warning(f"New entries blocked by {escape_markdown(protection)}; exits keep running.")
    render_profit_metrics(data.figures)
    render_positions(username, now)
    render_market_safeguards(username, now)
    if data.other_markets:
        st.warning(f"Also holding {', '.join(data.other_markets)} (not the market in your settings).")
    title = f"{data.market} · {data.interval.value} (times in UTC)"
    if len(data.chart):
        st.plotly_chart(build_chart(data.chart, data.markers, data.exit_lines, title), key="price_chart")
    else:
        st.info(f"No {data.interval.value} candles of {data.market} cached yet: the engine saves them.")
    render_signal(data)
    st.subheader("Recent orders")
    if data.recent_orders:
        st.dataframe(order_rows(data.recent_orders), hide_index=True)
    else:
        st.caption("No orders yet.")
    render_commands(data.commands, now)


def read_settings(username: str) -> tuple[StrategyParams, str | None]:
    """The params to show, and why the params file could not be used (None when it could).

    An unusable file falls back to the newest version recorded in the database (saved from Set
    Config or applied by the engine), else to the defaults, so the page keeps its controls and money.
    """
    try:
        return load_params(params_path(home(), username)), None
    except TradebotError as error:
        problem = str(error)
    try:
        with user_store(username) as store:
            version = store.latest_settings("params")
    except TradebotError:
        version = None
    recorded = parse_params(version)
    if version is not None and recorded is not None:
        return recorded, f"{problem}\n\nShown: the settings last recorded, params version {version.version}."
    return StrategyParams(), f"{problem}\n\nShown: the default settings (none was recorded yet)."


def read_desired(username: str) -> DesiredState | None:
    """What the user last asked for, or None (with the error shown) when the database cannot be read."""
    try:
        with user_store(username) as store:
            return desired_state(store)
    except TradebotError as error:
        st.error(f"Cannot read your commands: {error}")
        return None


def main() -> None:
    """The page: the settings error (if any) above the controls, then the controls and the live part."""
    username = require_user()
    st.title("📈 Dashboard")
    params, problem = read_settings(username)
    if problem is not None:
        st.error(
            f"Your settings file cannot be used: {problem}\n\nThe controls below still work; fix the "
            "file in Set Config (the engine keeps the settings it applied last)."
        )
    desired = read_desired(username)
    st.caption(f"{params.market} · {params.interval.value} · MACD {params.fast_period}/{params.slow_period}/"
               f"{params.signal_period} · refreshes every {REFRESH_SECONDS} s")  # fmt: skip
    render_controls(username, desired)
    live_panel(username, params)


main()
