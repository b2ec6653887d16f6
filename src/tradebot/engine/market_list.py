"""Upbit's market list, read once every few minutes for every user of the engine (like the feed).

`MarketList` asks `/v1/market/all?is_details=true` at most every `refresh_seconds` (5 minutes)
whoever asks, and answers each market's `MarketStanding`: listed or not (a market gone from the
list is delisted), its `market_event` flags, and whether its trading is suspended. Upbit's list
has no suspension field any more, so a suspension is learnt from an order Upbit refuses with
`market_offline` (`note_refusal`) and held for `suspension_seconds` (30 minutes), after which an
entry may try again. A failed read keeps the last list and says so in `problem` (shown in health);
before any list was read nothing is known and nothing is blocked, which `problem` also says.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tradebot.core.clock import Clock
from tradebot.core.safeguards import MarketEvent, MarketStanding
from tradebot.exchange.upbit import Market, UpbitError

REFRESH_SECONDS = 300.0
RETRY_SECONDS = 60.0  # after a failed read: soon, but never a request per user per cycle
SUSPENSION_SECONDS = 1800.0
SUSPENDED_ERROR = "market_offline"


class MarketSource(Protocol):
    """What the list is read from (`UpbitQuotationClient`)."""

    def list_markets(self, *, details: bool = False) -> list[Market]: ...


@dataclass(frozen=True, slots=True)
class _Snapshot:
    events: dict[str, MarketEvent]
    read_at: datetime


class MarketList:
    """The shared, thread-safe market list with its suspensions."""

    def __init__(
        self,
        source: MarketSource,
        clock: Clock,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        suspension_seconds: float = SUSPENSION_SECONDS,
    ) -> None:
        self._source, self._clock = source, clock
        self._refresh_seconds, self._suspension_seconds = refresh_seconds, suspension_seconds
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._next_read = float("-inf")  # monotonic seconds
        self._suspended_until: dict[str, float] = {}
        self.problem: str | None = None  # why the list shown is old or missing
        self.requests = 0  # list requests sent, for tests

    def standing(self, market: str) -> MarketStanding | None:
        """What Upbit says about `market` now; None while no list could be read yet."""
        snapshot = self._current()
        suspended = self._is_suspended(market)
        if snapshot is None:
            return MarketStanding(suspended=True) if suspended else None
        event = snapshot.events.get(market)
        if event is None:
            return MarketStanding(listed=False)
        return MarketStanding(event=event, suspended=suspended)

    def standings(self, markets: Sequence[str]) -> dict[str, MarketStanding]:
        """`standing` of each market that is known."""
        found = {market: self.standing(market) for market in markets}
        return {market: standing for market, standing in found.items() if standing is not None}

    def note_refusal(self, market: str, error_name: str | None) -> None:
        """An order in `market` was refused: `market_offline` means its trading is suspended."""
        if error_name == SUSPENDED_ERROR:
            with self._lock:
                self._suspended_until[market] = self._clock.monotonic() + self._suspension_seconds

    def _is_suspended(self, market: str) -> bool:
        with self._lock:
            until = self._suspended_until.get(market)
            if until is not None and self._clock.monotonic() >= until:
                del self._suspended_until[market]
                until = None
        return until is not None

    def _current(self) -> _Snapshot | None:
        with self._lock:  # one reader refreshes; the others wait for it and share the answer
            if self._clock.monotonic() >= self._next_read:
                self._read()
            return self._snapshot

    def _read(self) -> None:
        self.requests += 1
        try:
            markets = self._source.list_markets(details=True)
        except UpbitError as error:
            self._next_read = self._clock.monotonic() + RETRY_SECONDS
            self.problem = self._failure_text(error)
            return
        events = {
            item.market: MarketEvent(warning=bool(item.warning), caution=item.caution) for item in markets
        }
        self._snapshot = _Snapshot(events, self._clock.now())
        self._next_read = self._clock.monotonic() + self._refresh_seconds
        self.problem = None

    def _failure_text(self, error: UpbitError) -> str:
        if self._snapshot is None:
            return f"Upbit market list not read ({error}): market safeguards unknown, entries not blocked"
        since = self._snapshot.read_at.isoformat(timespec="seconds")
        return f"Upbit market list not read ({error}): using the list read at {since}"
