"""One loop's gate in front of an entry: Upbit's market safeguards (core.safeguards) in its market.

Kept apart from the strategy's own entry rules and protections: it reads the engine's shared
`MarketList`, not the candles. A blocked entry is recorded on the buy evaluation like a pause
(`safeguard:warning`, `safeguard:caution:<FLAG>`, `safeguard:delisted`, `safeguard:suspended`),
and the first block of each new set of reasons in the market is an ALERT written in the same
transaction as that evaluation, so a flag that stays set is not announced at every candle. Exits
never pass through this gate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tradebot.core.broker import OrderOutcome
from tradebot.core.safeguards import SafeguardSettings, describe, entry_blocks
from tradebot.engine.market_list import MarketList
from tradebot.services.notifications.messages import notify_alert
from tradebot.services.records import Mode
from tradebot.services.storage import Transaction


class EntryGate(Protocol):
    """What the loop asks before an entry and tells after an order (`SafeguardGate`, `OPEN_GATE`)."""

    def entry_note(self, settings: SafeguardSettings) -> str: ...

    def record_alert(self, transaction: Transaction, now: datetime) -> None: ...

    def note_outcome(self, outcome: OrderOutcome | None) -> None: ...


class _OpenGate:
    """No safeguard is checked (a price-exit guard, which never buys; tests of other things)."""

    def entry_note(self, settings: SafeguardSettings) -> str:
        return ""

    def record_alert(self, transaction: Transaction, now: datetime) -> None:
        return None

    def note_outcome(self, outcome: OrderOutcome | None) -> None:
        return None


OPEN_GATE: EntryGate = _OpenGate()


class SafeguardGate:
    """The safeguards that refuse a new entry in `market`, each new block alerted once."""

    def __init__(self, markets: MarketList, market: str, username: str, mode: Mode) -> None:
        self._markets, self.market, self._username, self._mode = markets, market, username, mode
        self._alerted: tuple[str, ...] = ()  # the reasons last announced; () re-arms the alert
        self._pending: str | None = None  # an ALERT to write with the evaluation being recorded

    def entry_note(self, settings: SafeguardSettings) -> str:
        """Why an entry is refused now ("" when no safeguard refuses it); arms its ALERT if new."""
        standing = self._markets.standing(self.market)
        reasons = () if standing is None else entry_blocks(standing, settings)
        if reasons != self._alerted:
            self._alerted = reasons
            self._pending = self._alert_text(reasons) if reasons else None
        return "; ".join(describe(reason) for reason in reasons)

    def record_alert(self, transaction: Transaction, now: datetime) -> None:
        """Write the armed ALERT (if any) in the transaction of the evaluation that carries it."""
        if self._pending is not None:
            notify_alert(transaction, self._username, self._pending, now)
            self._pending = None

    def note_outcome(self, outcome: OrderOutcome | None) -> None:
        """An order's outcome: Upbit refusing it with `market_offline` marks the market suspended."""
        if outcome is not None:
            self._markets.note_refusal(self.market, outcome.error_name)

    def _alert_text(self, reasons: tuple[str, ...]) -> str:
        listed = "; ".join(describe(reason) for reason in reasons)
        return (
            f"[{self._mode}] {self.market}: new entries blocked by Upbit market safeguards: {listed}. "
            "Exits (stop loss, take profit, trailing stop, sell signals) still run."
        )
