"""The daily summary: what the bot did in the last KST day, queued once per KST day at the user's time.

The period is the 24 hours before today's summary time (KST): every trade is in exactly one
summary, whatever time the user chose. The summary is queued by the first delivery round at or
after the chosen time; a `daily_summary` outbox row created since today's chosen time means it
was queued already (also by a process that ran before a restart), so it is never written twice.
Equity is the mode's KRW balance plus its positions valued at the last cached candle close (the
entry price when no candle is cached): the notifier never asks the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from tradebot.core.i18n import Language, text
from tradebot.services.notifications.messages import PERCENT, amount, user_language, won
from tradebot.services.notifications.outbox import enqueue
from tradebot.services.records import Mode, Position, TradeAudit
from tradebot.services.storage import Reader, Transaction
from tradebot.services.storage.codecs import KST, decode_record, encode_time

MODES: tuple[Mode, ...] = ("TEST", "LIVE")
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DailyNumbers:
    """One mode's numbers for the period."""

    mode: Mode
    buys: int
    sells: int
    wins: int
    closed: int
    realised_profit: Decimal
    krw: Decimal | None  # None: the mode never had an account
    positions: tuple[tuple[Position, Decimal], ...]  # each with the price it is valued at

    @property
    def equity(self) -> Decimal | None:
        """KRW plus the positions at their valuation price (None without an account)."""
        if self.krw is None:
            return None
        return self.krw + sum((item.volume * price for item, price in self.positions), Decimal(0))


def scheduled_moment(now: datetime, at: str) -> datetime:
    """Today's (KST) summary time `at` ("HH:MM"), aware; it may still be ahead of `now`."""
    hour, minute = (int(part) for part in at.split(":"))
    day = now.astimezone(KST).date()
    return datetime.combine(day, time(hour, minute), tzinfo=KST)


def queue_daily_summary(transaction: Transaction, username: str, at: str, now: datetime) -> int | None:
    """Queue today's summary if its time has come and it was not queued yet; the row id or None."""
    moment = scheduled_moment(now, at)
    if now < moment or _already_queued(transaction, moment):
        return None
    body = summary_text(transaction, username, moment, user_language(transaction))
    return enqueue(transaction, "daily_summary", body, now)


def _already_queued(reader: Reader, moment: datetime) -> bool:
    sql = "SELECT 1 FROM notify_outbox WHERE kind = 'daily_summary' AND created_at >= ? LIMIT 1"
    return bool(reader.query(sql, (encode_time(moment),)))


def summary_text(reader: Reader, username: str, end: datetime, language: Language = "en") -> str:
    """The summary of the 24 hours before `end`, one block per mode that has anything to say."""
    start = end - DAY
    span = {
        "start": f"{start.astimezone(KST):%Y-%m-%d %H:%M}",
        "end": f"{end.astimezone(KST):%Y-%m-%d %H:%M}",
    }
    head = text("notify.summary.head", language, username=username, **span)
    blocks = [_mode_text(numbers, language) for numbers in daily_numbers(reader, start, end)]
    return "\n".join([head, *blocks] if blocks else [head, text("notify.summary.nothing", language)])


def daily_numbers(reader: Reader, start: datetime, end: datetime) -> list[DailyNumbers]:
    """The numbers of every mode with an account, a trade in the period or an open position."""
    sql = "SELECT * FROM trade_audit WHERE executed_at >= ? AND executed_at < ? ORDER BY executed_at, id"
    rows = reader.query(sql, (encode_time(start), encode_time(end)))
    trades = [decode_record(TradeAudit, row) for row in rows]
    found = []
    for mode in MODES:
        mine = [trade for trade in trades if trade.mode == mode]
        account = reader.account(mode)
        held = [item for item in reader.positions(mode) if item.origin == "bot"]
        if not mine and account is None and not held:
            continue
        closed = [t.realised_profit for t in mine if t.side == "ask" and t.realised_profit is not None]
        found.append(
            DailyNumbers(
                mode=mode, buys=sum(1 for t in mine if t.side == "bid"),
                sells=sum(1 for t in mine if t.side == "ask"), wins=sum(1 for p in closed if p > 0),
                closed=len(closed), realised_profit=sum(closed, Decimal(0)),
                krw=None if account is None else account.krw_balance,
                positions=tuple((item, _valuation(reader, item)) for item in held),
            )
        )  # fmt: skip
    return found


def _valuation(reader: Reader, position: Position) -> Decimal:
    """The last cached close of the position's market, else its entry price (else zero)."""
    sql = "SELECT close FROM candle_cache WHERE market = ? ORDER BY start DESC LIMIT 1"
    rows = reader.query(sql, (position.market,))
    if rows:
        return Decimal(str(rows[0]["close"]))
    return position.entry_price or Decimal(0)


def _mode_text(numbers: DailyNumbers, language: Language = "en") -> str:
    mode = numbers.mode
    if numbers.closed:
        rate = (Decimal(numbers.wins) * 100 / numbers.closed).quantize(PERCENT, rounding=ROUND_HALF_UP)
        win_rate = text(
            "notify.summary.win_rate", language, rate=f"{rate:f}", wins=numbers.wins, closed=numbers.closed
        )
    else:
        win_rate = text("notify.summary.no_win_rate", language)
    equity = numbers.equity
    if equity is None or numbers.krw is None:
        worth = text("notify.summary.no_account", language)
    else:
        worth = text(
            "notify.summary.worth",
            language,
            equity=won(equity, language=language),
            cash=won(numbers.krw, language=language),
        )
    profit = won(numbers.realised_profit, signed=True, language=language)
    lines = [
        text(
            "notify.summary.trades",
            language,
            mode=mode,
            buys=numbers.buys,
            sells=numbers.sells,
            win_rate=win_rate,
            profit=profit,
        ),
        text("notify.summary.equity", language, mode=mode, worth=worth),
    ]
    if not numbers.positions:
        lines.append(text("notify.summary.no_positions", language, mode=mode))
    for position, price in numbers.positions:
        entry = (
            text("notify.summary.unknown", language)
            if position.entry_price is None
            else amount(position.entry_price)
        )
        lines.append(
            text(
                "notify.summary.position", language, mode=mode, market=position.market,
                volume=amount(position.volume), entry=entry, price=amount(price),
            )
        )  # fmt: skip
    return "\n".join(lines)
