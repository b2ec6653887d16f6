"""A live user's protections, derived from the database (TRADING_RULES.md v2, "Protections").

The engine's entry gate, the dashboard and `tradebot health` all call `protections_at`, so they
agree, and a restart changes nothing: the state is rebuilt every time from the trade history
(`trade_audit`), the cached candles (`candle_cache`) and the recorded KRW balance. The rules are
`core.protections`, the functions the backtest calls.

Readings (docs/TRADING_RULES.md, "Protections"): a trade closes on the candle its order was sent
for (a sale between closes, a force sell included, on the candle that was forming); candles are
counted in the cached series of the market and interval in force; the trades counted are the
mode's closed trades in that market (`manual` shrinks are not trades of the bot).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import ValidationError

from tradebot.core.execution import DUST
from tradebot.core.krw_rules import MONEY, to_decimal
from tradebot.core.params import StrategyParams
from tradebot.core.protections import (
    ActiveProtection,
    ClosedTrade,
    active_protections,
    any_enabled,
    kst_day,
    kst_day_end,
    newly_started,
)
from tradebot.services.notifications.messages import notify_protection
from tradebot.services.records import Mode, TradeAudit
from tradebot.services.storage import Reader, Transaction, Window

ALL_TRADES = 2**62
FAR_PAST = -(2**62)  # the index of a trade that closed before every candle read: long expired


@dataclass(frozen=True, slots=True)
class ProtectionCheck:
    """The protections blocking entries on one candle, and those whose first blocked candle it is."""

    active: tuple[ActiveProtection, ...] = ()
    started: tuple[ActiveProtection, ...] = ()


NO_PROTECTION = ProtectionCheck()


def protections_at(
    reader: Reader, *, mode: Mode, market: str, params: StrategyParams, candle_start: datetime | None
) -> ProtectionCheck:
    """The protections on the candle starting at `candle_start`, evaluated after every cached
    candle before it; None: the candle after the newest cached one (what the dashboard shows)."""
    if not any_enabled(params):
        return NO_PROTECTION
    # Enough candles to count the longest cooldown or pause: an exit before them has expired.
    bars = max(params.cooldown_bars, params.loss_pause_bars) + 1
    recent = reader.candles(market, params.interval, Window(end=candle_start, limit=bars))
    if candle_start is None:
        if not recent:
            return NO_PROTECTION
        candle_start = recent[-1].start + params.interval.duration
    starts = [candle.start for candle in recent] + [candle_start]
    index = len(starts) - 1
    audits = reader.trade_audits(ALL_TRADES)
    trades = closed_trades(audits, mode, market, starts)
    start = candle_start

    def equity() -> Decimal:
        return day_start_equity(reader, mode=mode, market=market, params=params, audits=audits, day_of=start)

    active = active_protections(trades, index, candle_start, params, equity)
    return ProtectionCheck(active, newly_started(active, index))


def announce_started(
    transaction: Transaction, check: ProtectionCheck, mode: Mode, market: str, now: datetime
) -> None:
    """Write the notification of each protection `check` starts, in the evaluation's transaction."""
    for protection in check.started:
        notify_protection(transaction, mode=mode, market=market, protection=protection, now=now)


def closed_trades(
    audits: Sequence[TradeAudit], mode: Mode, market: str, starts: Sequence[datetime]
) -> Iterator[ClosedTrade]:
    """The mode's closed trades in `market`, with their exit candle's index in `starts`."""
    for audit in audits:
        closing = audit.side == "ask" and audit.cause != "manual" and audit.realised_profit is not None
        if not closing or audit.mode != mode or audit.market != market or audit.candle_start is None:
            continue
        assert audit.realised_profit is not None  # checked in `closing`
        exit_start = audit.candle_start
        index = FAR_PAST if exit_start < starts[0] else bisect_left(starts, exit_start)
        yield ClosedTrade(index, exit_start, audit.realised_profit)


def day_start_equity(
    reader: Reader,
    *,
    mode: Mode,
    market: str,
    params: StrategyParams,
    audits: Sequence[TradeAudit],
    day_of: datetime,
) -> Decimal:
    """The equity after the last cached candle of the KST day before `day_of`'s, at its close.

    KRW then = the recorded KRW now less what every trade of the mode since then moved; coin then
    = the market's bought volume less its sold volume up to then (dust written off stays in the
    wallet, so it still counts). Without an earlier candle: the KRW (the first day's cash).
    """
    day_begins = kst_day_end(kst_day(day_of)) - timedelta(days=1)
    previous = reader.candles(market, params.interval, Window(end=day_begins, limit=1))
    account = reader.account(mode)
    krw = account.krw_balance if account is not None else Decimal(0)
    coin = Decimal(0)
    last = previous[0].start if previous else None
    for audit in audits:
        if audit.mode != mode:
            continue
        when = audit.candle_start or audit.executed_at
        if last is None or when > last:
            krw = MONEY.subtract(krw, _krw_moved(audit))
        elif audit.market == market:
            coin = MONEY.add(coin, _coin_moved(audit))
    if not previous:
        return krw
    return MONEY.add(krw, MONEY.multiply(coin, to_decimal(previous[0].close)))


def _krw_moved(audit: TradeAudit) -> Decimal:
    """What a trade did to the KRW balance: a buy pays funds and fee, a sale receives funds less fee."""
    funds = MONEY.multiply(audit.fill_price, audit.volume)
    if audit.side == "bid":
        return MONEY.minus(MONEY.add(funds, audit.fee))
    if audit.rule == DUST or audit.cause == "manual":
        return Decimal(0)  # no order: the coins stayed (dust) or left outside the bot (manual)
    return MONEY.subtract(funds, audit.fee)


def _coin_moved(audit: TradeAudit) -> Decimal:
    """What a trade did to the coin the bot's books count (dust written off is still counted)."""
    if audit.side == "bid":
        return audit.volume
    return Decimal(0) if audit.rule == DUST else MONEY.minus(audit.volume)


def shown_protections(reader: Reader, mode: Mode) -> tuple[str, ...]:
    """What the dashboard and `tradebot health` show: each protection blocking the next candle's
    entry and until when, under the params the engine recorded last (none before it ever ran)."""
    latest = reader.latest_settings("params")
    if latest is None:
        return ()
    try:
        params = StrategyParams.model_validate_json(latest.content)
    except ValidationError:  # a version recorded by a newer tradebot: nothing to show, never a crash
        return ()
    check = protections_at(reader, mode=mode, market=params.market, params=params, candle_start=None)
    return tuple(protection.describe() for protection in check.active)
