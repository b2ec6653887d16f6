"""The texts of the messages events write into the outbox, and the calls that write them.

Every `notify_*` function takes the transaction that records its event, so the message is written
with the event or not at all. Texts are plain English for a person; numbers are exact (Decimal),
KRW amounts rounded to the won. Nothing here may carry a secret: only trade data and the exchange's
error names and messages (which never contain the keys).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from tradebot.core.execution import DUST
from tradebot.core.protections import ActiveProtection
from tradebot.services.notifications.outbox import enqueue
from tradebot.services.records import Mode, Side, TradeAudit
from tradebot.services.storage import Transaction

SIDE_NAMES: dict[Side, str] = {"bid": "buy", "ask": "sell"}
WON = Decimal(1)
PERCENT = Decimal("0.01")


def amount(value: Decimal) -> str:
    """A coin volume or price in plain notation with thousands separators: `0.0012`, `50,000,000`."""
    return f"{value.normalize():,f}"


def won(value: Decimal, *, signed: bool = False) -> str:
    """A KRW amount rounded to the won: `50,000 KRW` (`+1,234 KRW` when `signed`)."""
    rounded = value.quantize(WON, rounding=ROUND_HALF_UP)
    return f"{rounded:+,f} KRW" if signed else f"{rounded:,f} KRW"


def trade_text(audit: TradeAudit, entry_price: Decimal | None) -> str:
    """One fill or dust write-off: mode, market, side, price, volume, KRW, rule, profit and %."""
    funds = audit.fill_price * audit.volume
    if audit.rule == DUST:
        head = (
            f"[{audit.mode}] {audit.market} position written off as dust: {amount(audit.volume)} "
            f"valued at {amount(audit.fill_price)} KRW ({won(funds)}); too small for Upbit to sell, "
            "the coins stay in the wallet"
        )
    else:
        head = (
            f"[{audit.mode}] {audit.market} {SIDE_NAMES[audit.side]} filled: {amount(audit.volume)} at "
            f"{amount(audit.fill_price)} KRW = {won(funds)} (fee {won(audit.fee)})"
        )
    parts = [head, f"rule: {audit.rule or audit.cause}"]
    if audit.cause == "force":
        parts.append(f"forced by {audit.requested_by} (command {audit.command_id})")
    if audit.realised_profit is not None:
        parts.append(
            f"realised profit {won(audit.realised_profit, signed=True)}{_percent(audit, entry_price)}"
        )
    return "; ".join(parts)


def _percent(audit: TradeAudit, entry_price: Decimal | None) -> str:
    if audit.realised_profit is None or entry_price is None or entry_price <= 0 or audit.volume <= 0:
        return ""
    ratio = audit.realised_profit / (entry_price * audit.volume) * 100
    return f" ({ratio.quantize(PERCENT, rounding=ROUND_HALF_UP):+f}%)"


def notify_trade(transaction: Transaction, audit: TradeAudit, entry_price: Decimal | None) -> int | None:
    """Enqueue the message of a fill or dust write-off, in the transaction that records it."""
    return enqueue(transaction, "fill", trade_text(audit, entry_price), audit.executed_at)


def refusal_text(
    mode: Mode, market: str, side: Side, identifier: str, error: str | None, message: str
) -> str:
    """An order the exchange refused or cancelled unfilled: nothing was bought or sold."""
    reason = ": ".join(part for part in (error, message) if part) or "no reason given"
    return (
        f"[{mode}] {market} {SIDE_NAMES[side]} order REFUSED, nothing traded: {reason} (order {identifier})"
    )


def notify_refusal(
    transaction: Transaction,
    *,
    mode: Mode,
    market: str,
    side: Side,
    identifier: str,
    error: str | None,
    message: str,
    now: datetime,
) -> int | None:
    """Enqueue the message of a refused order, in the transaction that records the refusal."""
    return enqueue(
        transaction, "order_refused", refusal_text(mode, market, side, identifier, error, message), now
    )


def notify_alert(transaction: Transaction, username: str, text: str, now: datetime) -> int | None:
    """Enqueue an engine ALERT (written once, when the alert starts)."""
    body = text if text.startswith("ALERT") else f"ALERT: {text}"
    return enqueue(transaction, "alert", f"{username}: {body}", now)


def notify_engine(transaction: Transaction, username: str, text: str, now: datetime) -> int | None:
    """Enqueue an engine event (the engine started or stopped serving the user); silent by default."""
    return enqueue(transaction, "engine", f"{username}: {text}", now)


def notify_sold_outside(
    transaction: Transaction, *, mode: Mode, market: str, note: str, now: datetime
) -> int | None:
    """Enqueue the ALERT that the bot's coins left the wallet outside the bot (sold or withdrawn),
    in the transaction that shrinks the position."""
    return enqueue(transaction, "alert", f"ALERT: [{mode}] {market}: {note}", now)


PROTECTION_WHY = {
    "protection:cooldown": "a position just closed (cooldown_bars)",
    "protection:loss_streak": "max_consecutive_losses losing trades in a row",
    "protection:daily_loss": "today's closed trades lost max_daily_loss of the day's starting equity",
}


def notify_protection(
    transaction: Transaction, *, mode: Mode, market: str, protection: ActiveProtection, now: datetime
) -> int | None:
    """Enqueue that a protection started blocking entries, in the transaction of the evaluation of
    its first blocked candle (so once per trigger, never once per blocked candle)."""
    why = PROTECTION_WHY.get(protection.code, protection.code)
    text = (
        f"[{mode}] {market}: {protection.describe()}, because {why}. "
        "Exits, stop losses and force sells keep working."
    )
    return enqueue(transaction, "protection", text, now)
