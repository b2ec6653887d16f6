"""The texts of the messages events write into the outbox, and the calls that write them.

Every `notify_*` function takes the transaction that records its event, so the message is written
with the event or not at all. Texts are for a person, in the user's language (Account & Mode; the
catalogue's `notify.*`); numbers are exact (Decimal), KRW amounts rounded to the won. An engine
ALERT's own words stay English (the engine writes them); only their heading is translated.
Nothing here may carry a secret: only trade data and the exchange's error names and messages
(which never contain the keys).
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from tradebot.core.execution import DUST
from tradebot.core.i18n import DEFAULT_LANGUAGE, Language, text, text_or
from tradebot.core.i18n.formats import KST
from tradebot.core.protections import ActiveProtection
from tradebot.services.notifications.outbox import enqueue
from tradebot.services.preferences import stored_language
from tradebot.services.records import Mode, Side, TradeAudit
from tradebot.services.storage import Transaction
from tradebot.services.storage.reader import Reader

SIDE_NAMES: dict[Side, str] = {"bid": "buy", "ask": "sell"}
WON = Decimal(1)
PERCENT = Decimal("0.01")


def amount(value: Decimal) -> str:
    """A coin volume or price in plain notation with thousands separators: `0.0012`, `50,000,000`."""
    return f"{value.normalize():,f}"


def won(value: Decimal, *, signed: bool = False, language: Language = "en") -> str:
    """A KRW amount rounded to the won: `50,000 KRW` / `50,000원` (`+1,234 KRW` when `signed`)."""
    rounded = value.quantize(WON, rounding=ROUND_HALF_UP)
    return text("format.krw", language, amount=f"{rounded:+,f}" if signed else f"{rounded:,f}")


def trade_text(audit: TradeAudit, entry_price: Decimal | None, language: Language = "en") -> str:
    """One fill or dust write-off: mode, market, side, price, volume, KRW, rule, profit and %."""
    funds = audit.fill_price * audit.volume
    common = {"mode": audit.mode, "market": audit.market, "volume": amount(audit.volume)}
    price, total = amount(audit.fill_price), won(funds, language=language)
    if audit.rule == DUST:
        head = text("notify.dust", language, price=price, funds=total, **common)
    else:
        side = text(f"notify.side.{SIDE_NAMES[audit.side]}", language)
        fee = won(audit.fee, language=language)
        head = text("notify.filled", language, side=side, price=price, funds=total, fee=fee, **common)
    rule = audit.rule or audit.cause
    parts = [head, text("notify.rule", language, rule=rule_label(rule, language))]
    if audit.cause == "force":
        parts.append(text("notify.forced", language, by=audit.requested_by, command=audit.command_id))
    if audit.realised_profit is not None:
        profit = won(audit.realised_profit, signed=True, language=language)
        parts.append(text("notify.profit", language, profit=profit, percent=_percent(audit, entry_price)))
    return "; ".join(parts)


def _percent(audit: TradeAudit, entry_price: Decimal | None) -> str:
    if audit.realised_profit is None or entry_price is None or entry_price <= 0 or audit.volume <= 0:
        return ""
    ratio = audit.realised_profit / (entry_price * audit.volume) * 100
    return f" ({ratio.quantize(PERCENT, rounding=ROUND_HALF_UP):+f}%)"


def notify_trade(transaction: Transaction, audit: TradeAudit, entry_price: Decimal | None) -> int | None:
    """Enqueue the message of a fill or dust write-off, in the transaction that records it."""
    message = trade_text(audit, entry_price, user_language(transaction))
    return enqueue(transaction, "fill", message, audit.executed_at)


def refusal_text(
    mode: Mode,
    market: str,
    side: Side,
    identifier: str,
    error: str | None,
    message: str,
    language: Language = "en",
) -> str:
    """An order the exchange refused or cancelled unfilled: nothing was bought or sold."""
    reason = ": ".join(part for part in (error, message) if part) or text("notify.no_reason", language)
    side_name = text(f"notify.side.{SIDE_NAMES[side]}", language)
    return text(
        "notify.refused", language, mode=mode, market=market, side=side_name, reason=reason, order=identifier
    )


def rule_label(rule: str, language: Language) -> str:
    """The rule as English messages have always named it (its code), or its name in another language."""
    return rule if language == DEFAULT_LANGUAGE else text_or(f"condition.{rule}.name", rule, language)


def user_language(reader: Reader) -> Language:
    """The language the user chose (Account & Mode), else English: a message has no browser to ask."""
    return stored_language(reader) or DEFAULT_LANGUAGE


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
    language = user_language(transaction)
    body = refusal_text(mode, market, side, identifier, error, message, language)
    return enqueue(transaction, "order_refused", body, now)


def notify_alert(transaction: Transaction, username: str, alert_text: str, now: datetime) -> int | None:
    """Enqueue an engine ALERT (written once, when the alert starts)."""
    body = alert_text.removeprefix("ALERT: ").removeprefix("ALERT")
    heading = text("notify.alert", user_language(transaction))
    return enqueue(transaction, "alert", f"{username}: {heading}: {body.lstrip(': ')}", now)


def notify_engine(transaction: Transaction, username: str, text: str, now: datetime) -> int | None:
    """Enqueue an engine event (the engine started or stopped serving the user); silent by default."""
    return enqueue(transaction, "engine", f"{username}: {text}", now)


def notify_sold_outside(
    transaction: Transaction, *, mode: Mode, market: str, note: str, now: datetime
) -> int | None:
    """Enqueue the ALERT that the bot's coins left the wallet outside the bot (sold or withdrawn),
    in the transaction that shrinks the position."""
    heading = text("notify.alert", user_language(transaction))
    return enqueue(transaction, "alert", f"{heading}: [{mode}] {market}: {note}", now)


def notify_protection(
    transaction: Transaction, *, mode: Mode, market: str, protection: ActiveProtection, now: datetime
) -> int | None:
    """Enqueue that a protection started blocking entries, in the transaction of the evaluation of
    its first blocked candle (so once per trigger, never once per blocked candle)."""
    language = user_language(transaction)
    name = protection.code.removeprefix("protection:")
    until = protection.until.astimezone(KST).strftime("%Y-%m-%d %H:%M")
    shape = "until_day_end" if protection.until_index is None else "through_candle"
    blocked = text(f"notify.protection.{shape}", language, code=protection.code, until=until)
    why = text_or(f"notify.protection.why.{name}", protection.code, language)
    message = text("notify.protection.text", language, mode=mode, market=market, blocked=blocked, why=why)
    return enqueue(transaction, "protection", message, now)
