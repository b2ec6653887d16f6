"""The texts of the read-only Telegram chat commands: `/status`, `/profit [days]`, `/daily`.

Pure reads over one user's database: the engine's status row, the desired state (mode, paused),
the open positions with their price exits computed from the newest saved params, and the realised
profit of the trade audit. Amounts are exact (Decimal) and KRW is rounded to the won for display.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from tradebot.core.execution import exact
from tradebot.core.params import StrategyParams
from tradebot.services.desired_state import desired_state
from tradebot.services.notifications.messages import amount, won
from tradebot.services.records import Mode, Position, TradeAudit
from tradebot.services.storage import Reader
from tradebot.services.storage.reader import Window

KST = timezone(timedelta(hours=9), "KST")
DAILY_DAYS = 7
AUDIT_LIMIT = 100_000  # every trade of a long-running user; the table is small rows
ZERO = Decimal(0)


def latest_params(reader: Reader) -> StrategyParams | None:
    """The newest saved strategy params, None when none was ever saved."""
    version = reader.latest_settings("params")
    return None if version is None else StrategyParams.model_validate_json(version.content)


def last_price(reader: Reader, params: StrategyParams | None, market: str) -> Decimal | None:
    """The close of the newest cached candle of `market` (the params' interval), if any."""
    if params is None:
        return None
    candles = reader.candles(market, params.interval, Window(limit=1))
    return Decimal(str(candles[-1].close)) if candles else None


def position_line(position: Position, params: StrategyParams | None) -> str:
    """One position: volume, entry, stop and target (from the params), whose it is."""
    parts = [f"{position.market}: {amount(position.volume)} held"]
    entry = position.entry_price
    if entry is None:
        parts.append("entry unknown")
    else:
        parts.append(f"entry {amount(entry)}")
        if params is not None:
            stop = entry * (1 - exact(params.stop_loss))
            target = entry * (1 + exact(params.take_profit))
            parts.append(f"stop {amount(stop)}, target {amount(target)}")
    if position.origin == "adopted":
        parts.append("adopted from the account: waiting for your decision, not traded")
    return "; ".join(parts)


def status_text(reader: Reader, username: str, now: datetime) -> str:
    """State, mode, positions with entry/stop/target, and equity in the current mode."""
    desired, status = desired_state(reader), reader.engine_status()
    mode = desired.mode
    state = "no engine status yet" if status is None else status.state
    heartbeat = "" if status is None else f", last heartbeat {_age(now - status.heartbeat_at)} ago"
    wanted = "on" if desired.running else "off"
    lines = [
        f"{username}: {state}{heartbeat}",
        f"mode {mode}; switched {wanted}{'; paused' if desired.paused else ''}",
    ]
    params = latest_params(reader)
    positions = reader.positions(mode)
    lines.extend(position_line(item, params) for item in positions)
    if not positions:
        lines.append("no open position")
    lines.append(equity_line(reader, mode, positions, params))
    return "\n".join(lines)


def equity_line(
    reader: Reader, mode: Mode, positions: Sequence[Position], params: StrategyParams | None
) -> str:
    """KRW plus the bot's positions at the newest cached close (at entry when no candle is cached)."""
    account = reader.account(mode)
    if account is None:
        return "equity: no account recorded yet"
    total = account.krw_balance
    for position in positions:
        if position.origin != "bot":
            continue  # the user's own coins are not the bot's equity
        price = last_price(reader, params, position.market) or position.entry_price or ZERO
        total += position.volume * price
    return f"equity {won(total)} (KRW {won(account.krw_balance)})"


def closed_trades(reader: Reader, mode: Mode, since: datetime | None) -> list[TradeAudit]:
    """Trades of `mode` that realised a profit or loss (exits), executed at or after `since`."""
    return [
        audit
        for audit in reader.trade_audits(limit=AUDIT_LIMIT)
        if audit.mode == mode
        and audit.realised_profit is not None
        and (since is None or audit.executed_at >= since)
    ]


def profit_text(reader: Reader, now: datetime, days: int | None) -> str:
    """Realised profit, trades and win rate of the current mode: all time, or the last `days` days."""
    mode = desired_state(reader).mode
    since = None if days is None else now - timedelta(days=days)
    trades = closed_trades(reader, mode, since)
    period = "all time" if days is None else f"last {days} day(s)"
    if not trades:
        return f"[{mode}] {period}: no closed trade"
    profits = [audit.realised_profit or ZERO for audit in trades]
    wins = sum(1 for value in profits if value > 0)
    rate = Decimal(wins * 100) / len(trades)
    return (
        f"[{mode}] {period}: realised profit {won(sum(profits, ZERO), signed=True)}; "
        f"{len(trades)} closed trade(s), {wins} won ({rate:.0f}% win rate)"
    )


def daily_text(reader: Reader, now: datetime, days: int = DAILY_DAYS) -> str:
    """Realised profit per Korea-time day for the last `days` days, newest first."""
    mode = desired_state(reader).mode
    today = now.astimezone(KST).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=KST)
    totals: dict[object, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[object, int] = defaultdict(int)
    for audit in closed_trades(reader, mode, since):
        day = audit.executed_at.astimezone(KST).date()
        totals[day] += audit.realised_profit or ZERO
        counts[day] += 1
    lines = [f"[{mode}] realised profit per day (KST):"]
    for offset in range(days):
        day = today - timedelta(days=offset)
        lines.append(f"{day.isoformat()}: {won(totals[day], signed=True)} ({counts[day]} trade(s))")
    return "\n".join(lines)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
