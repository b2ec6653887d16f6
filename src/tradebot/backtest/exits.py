"""Finding where an open position exits, for the fast replay.

A position's exit depends only on its entry candle and entry price (the price rules) and on
indicator signals that are the same for every position, so the first exit of every possible
entry is computed at once over a short look-ahead window. The window uses thresholds widened by
a hair, so it flags the earliest candle where an exit *could* hold; `ExitFinder.first_exit`
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
        self._candidate: list[int] = []
        self._highest_close: list[float] = []

    def prepare(self, entries: IntArray, approximate_entry_prices: FloatArray) -> None:
        """For every entry, flag the earliest look-ahead candle where an exit could hold (-1: none)."""
        candidates, highest = [], []
        for first in range(0, entries.shape[0], BATCH_ROWS):
            rows = slice(first, first + BATCH_ROWS)
            candidate, highest_close = self._candidates(entries[rows], approximate_entry_prices[rows])
            candidates.append(candidate)
            highest.append(highest_close)
        # Plain lists: the replay reads one element per trade, and list indexing is the cheapest.
        self._candidate = np.concatenate(candidates).tolist() if candidates else []
        self._highest_close = np.concatenate(highest).tolist() if highest else []

    def _candidates(self, entries: IntArray, entry_prices: FloatArray) -> tuple[IntArray, FloatArray]:
        count = self.close.shape[0]
        positions = entries[:, None] + 1 + np.arange(LOOKAHEAD)
        inside = positions < count
        positions = np.minimum(positions, count - 1)
        closes = self.close[positions]
        running_high = np.maximum.accumulate(closes, axis=1)
        hit = self._price_hits(closes, running_high, entry_prices[:, None])
        if self._any_indicator_exit is not None:
            allowed = positions >= (entries + self._params.min_holding_bars)[:, None]
            hit |= self._any_indicator_exit[positions] & allowed
        hit &= inside
        first = np.argmax(hit, axis=1)
        rows = np.arange(hit.shape[0])
        found = hit[rows, first]
        return np.where(found, entries + 1 + first, -1), running_high[rows, first]

    def _price_hits(self, closes: FloatArray, running_high: FloatArray, entry: FloatArray) -> BoolArray:
        """Price rules with thresholds widened by WIDEN: a superset of the exact hits."""
        params = self._params
        hit = np.zeros(closes.shape, dtype=np.bool_)
        if "stop_loss" in self._price_rules:
            hit |= closes <= entry * (1.0 - params.stop_loss) * (1 + WIDEN)
        if "take_profit" in self._price_rules:
            hit |= closes >= entry * (1.0 + params.take_profit) * (1 - WIDEN)
        if "trailing_stop" in self._price_rules:
            peaks = np.maximum(running_high, entry)
            hit |= closes <= peaks * (1.0 - params.trailing_stop) * (1 + WIDEN)
        return hit

    def first_exit(self, slot: int, entry_index: int, entry_price: float) -> ExitFound | None:
        """The exact first exit of the position opened at `entries[slot]`, or None if it never exits."""
        candidate = self._candidate[slot]
        if candidate < 0:
            return self.scan(entry_index, entry_price, entry_index + 1 + LOOKAHEAD, 0.0).found
        peak = max(entry_price, self._highest_close[slot])
        rule = self._rule_at(candidate, entry_index, entry_price, peak)
        if rule is not None:
            return ExitFound(candidate, rule, peak)
        # The widened thresholds flagged a candle the exact ones do not: search on after it.
        return self.scan(entry_index, entry_price, candidate + 1, 0.0).found

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
        stop, target, trail = exit_levels(entry_price, peak, self._params)
        for key in self._price_rules:
            if key == "stop_loss" and price <= stop:
                return key
            if key == "take_profit" and price >= target:
                return key
            if key == "trailing_stop" and price <= trail:
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
