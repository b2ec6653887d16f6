"""Finding where an open position exits, for the fast replay.

A position's exit depends only on its entry candle and entry price (the price rules) and on
indicator signals that are the same for every position, so the first exit of every possible
entry is computed at once over a short look-ahead window. The window uses thresholds widened by
a hair, so it flags the earliest candle where an exit *could* hold; `ExitFinder.exit_for`
confirms that candle with the exact thresholds of `core.strategy.exit_levels` (the same float
expressions the live strategy evaluates) and scans on in growing chunks if it does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tradebot.core.models import BoolArray, FloatArray, IntArray
from tradebot.core.params import PRICE_EXIT_KEYS, Conditions, StrategyParams
from tradebot.core.strategy import exit_levels

LOOKAHEAD = 48
BATCH_ROWS = 8192
FIRST_CHUNK = 64
LARGEST_CHUNK = 1 << 16
WIDEN = 1e-9  # far above float rounding of a price level, far below any real price step


@dataclass(frozen=True, slots=True)
class ExitFound:
    """The exit candle, the rule that fired there, and the peak price up to it."""

    index: int
    rule: str
    peak: float


class ExitFinder:
    """First-exit search over a candle series for positions entered at `entries`."""

    def __init__(
        self,
        close: FloatArray,
        indicator_exits: dict[str, BoolArray],
        params: StrategyParams,
        conditions: Conditions,
    ) -> None:
        self.close = close
        self._params = params
        self._price_rules = tuple(key for key in PRICE_EXIT_KEYS if getattr(conditions.sell, key))
        self._indicator_exits = indicator_exits
        self._any_indicator_exit: BoolArray | None = None
        if indicator_exits:
            self._any_indicator_exit = np.logical_or.reduce(list(indicator_exits.values()))
        self._candidate: IntArray = np.empty(0, dtype=np.int64)

    def prepare(self, entries: IntArray, approximate_entry_prices: FloatArray) -> None:
        """Flag, for every entry, the earliest look-ahead candle where an exit could hold (-1: none)."""
        self._candidate = np.full(entries.shape[0], -1, dtype=np.int64)
        for first in range(0, entries.shape[0], BATCH_ROWS):
            rows = slice(first, first + BATCH_ROWS)
            self._candidate[rows] = self._candidates(entries[rows], approximate_entry_prices[rows])

    def _candidates(self, entries: IntArray, entry_prices: FloatArray) -> IntArray:
        count = self.close.shape[0]
        positions = entries[:, None] + 1 + np.arange(LOOKAHEAD)
        inside = positions < count
        positions = np.minimum(positions, count - 1)
        closes = self.close[positions]
        hit = self._price_hits(closes, entry_prices[:, None], widen=WIDEN)
        if self._any_indicator_exit is not None:
            allowed = positions >= (entries + self._params.min_holding_bars)[:, None]
            hit |= self._any_indicator_exit[positions] & allowed
        hit &= inside
        first = np.argmax(hit, axis=1)
        found = hit[np.arange(hit.shape[0]), first]
        return np.where(found, entries + 1 + first, -1)

    def _price_hits(self, closes: FloatArray, entry: FloatArray | float, widen: float) -> BoolArray:
        """Price rules over closes laid out along the last axis, starting just after entry."""
        params = self._params
        hit = np.zeros(closes.shape, dtype=np.bool_)
        if "stop_loss" in self._price_rules:
            hit |= closes <= entry * (1.0 - params.stop_loss) * (1 + widen)
        if "take_profit" in self._price_rules:
            hit |= closes >= entry * (1.0 + params.take_profit) * (1 - widen)
        if "trailing_stop" in self._price_rules:
            peaks = np.maximum(np.maximum.accumulate(closes, axis=-1), entry)
            hit |= closes <= peaks * (1.0 - params.trailing_stop) * (1 + widen)
        return hit

    def exit_for(self, slot: int, entry_index: int, entry_price: float, floor_close: float) -> ScanOutcome:
        """The exact first exit of the position opened at `entries[slot]` (see `scan`)."""
        candidate = int(self._candidate[slot])
        if candidate >= 0:
            found = self._confirm(entry_index, entry_price, candidate)
            if found is not None and self.close[candidate] >= floor_close:
                return ScanOutcome(found)
            return self.scan(entry_index, entry_price, candidate, floor_close)
        return self.scan(entry_index, entry_price, entry_index + 1 + LOOKAHEAD, floor_close)

    def scan(self, entry_index: int, entry_price: float, start: int, floor_close: float) -> ScanOutcome:
        """Exact chunked search for the first exit at or after `start`.

        Exits on a close under `floor_close` are counted as refused sells (the position would be
        worth under 5,000 KRW there) and the search goes on.
        """
        count = self.close.shape[0]
        position, size = start, FIRST_CHUNK
        peak = self._peak_through(entry_index, entry_price, start - 1)
        refused = Refusals()
        while position < count:
            end = min(count, position + size)
            closes = self.close[position:end]
            hit = self._exact_hits(closes, entry_price, peak, position, entry_index)
            sellable = hit & (closes >= floor_close)
            stop = int(np.argmax(sellable)) if sellable.any() else closes.shape[0]
            refused.add(np.flatnonzero(hit[:stop]) + position)
            if stop < closes.shape[0]:
                found = self._confirm(entry_index, entry_price, position + stop)
                if found is None:  # cannot happen: the chunk test used the same exact levels
                    raise AssertionError(f"exit at candle {position + stop} did not confirm")
                return ScanOutcome(found, refused)
            peak = max(peak, float(closes.max()))
            position, size = end, min(size * 4, LARGEST_CHUNK)
        return ScanOutcome(None, refused)

    def _peak_through(self, entry_index: int, entry_price: float, index: int) -> float:
        index = min(index, self.close.shape[0] - 1)
        if index <= entry_index:
            return entry_price
        return max(entry_price, float(self.close[entry_index + 1 : index + 1].max()))

    def _confirm(self, entry_index: int, entry_price: float, index: int) -> ExitFound | None:
        peak = self._peak_through(entry_index, entry_price, index)
        rule = self._rule_at(index, entry_index, entry_price, peak)
        return None if rule is None else ExitFound(index, rule, peak)

    def _rule_at(self, index: int, entry_index: int, entry_price: float, peak: float) -> str | None:
        """The first rule, in TRADING_RULES.md order, that holds exactly at `index`."""
        price = float(self.close[index])
        levels = exit_levels(entry_price, peak, self._params)
        holds = {
            "stop_loss": price <= levels.stop_loss,
            "take_profit": price >= levels.take_profit,
            "trailing_stop": price <= levels.trailing_stop,
        }
        for key in self._price_rules:
            if holds[key]:
                return key
        if index - entry_index >= self._params.min_holding_bars:
            for key, passed in self._indicator_exits.items():
                if passed[index]:
                    return key
        return None

    def _exact_hits(
        self, closes: FloatArray, entry_price: float, peak: float, position: int, entry_index: int
    ) -> BoolArray:
        levels = exit_levels(entry_price, peak, self._params)
        hit = np.zeros(closes.shape, dtype=np.bool_)
        if "stop_loss" in self._price_rules:
            hit |= closes <= levels.stop_loss
        if "take_profit" in self._price_rules:
            hit |= closes >= levels.take_profit
        if "trailing_stop" in self._price_rules:
            peaks = np.maximum(np.maximum.accumulate(closes), peak)
            hit |= closes <= peaks * (1.0 - self._params.trailing_stop)
        if self._any_indicator_exit is not None:
            allowed_from = max(position, entry_index + self._params.min_holding_bars)
            end = position + closes.shape[0]
            if allowed_from < end:
                hit[allowed_from - position :] |= self._any_indicator_exit[allowed_from:end]
        return hit


@dataclass(slots=True)
class Refusals:
    """Exit signals on which a sell would be refused: how many, first and last candle."""

    count: int = 0
    first_index: int = -1
    last_index: int = -1

    def add(self, indices: IntArray) -> None:
        """Count the refusals at `indices` (ascending)."""
        if indices.shape[0] == 0:
            return
        if self.count == 0:
            self.first_index = int(indices[0])
        self.count += int(indices.shape[0])
        self.last_index = int(indices[-1])


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """Where a position exits (None: not within the series) and the refused sells before that."""

    found: ExitFound | None
    refused: Refusals = field(default_factory=Refusals)
