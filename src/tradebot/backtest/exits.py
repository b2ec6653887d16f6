"""Finding where an open position exits, for the fast replay.

A position's exit depends only on its entry candle and entry price (the price rules) and on
indicator signals that are the same for every position, so the first exit of every possible
entry is computed at once over a short look-ahead window. The float thresholds are widened by a
hair, so they flag every candle where an exit *could* hold (a superset of the exact hits);
each flagged candle is confirmed with the exact Decimal levels of `core.strategy.exit_levels`,
the comparison the live strategy makes, and the search goes on in growing chunks past a
candle that does not confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradebot.core.krw_rules import to_decimal
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
    peak: Decimal


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

    def prepare(self, entries: IntArray, approximate_entry_prices: FloatArray) -> None:
        """For every entry, flag the earliest look-ahead candle where an exit could hold (-1: none)."""
        candidates = [
            self._candidates(
                entries[first : first + BATCH_ROWS], approximate_entry_prices[first : first + BATCH_ROWS]
            )
            for first in range(0, entries.shape[0], BATCH_ROWS)
        ]
        # A plain list: the replay reads one element per trade, and list indexing is the cheapest.
        self._candidate = np.concatenate(candidates).tolist() if candidates else []

    def _candidates(self, entries: IntArray, entry_prices: FloatArray) -> IntArray:
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
        found = hit[np.arange(hit.shape[0]), first]
        return np.where(found, entries + 1 + first, -1)

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

    def first_exit(self, slot: int, entry_index: int, entry_price: Decimal) -> ExitFound | None:
        """The exact first exit of the position opened at `entries[slot]`, or None if it never exits."""
        candidate = self._candidate[slot]
        if candidate < 0:
            return self.scan(entry_index, entry_price, entry_index + 1 + LOOKAHEAD)
        found = self._confirm(entry_index, entry_price, candidate)
        if found is not None:
            return found
        # The widened thresholds flagged a candle the exact ones do not: search on after it.
        return self.scan(entry_index, entry_price, candidate + 1)

    def scan(self, entry_index: int, entry_price: Decimal, start: int) -> ExitFound | None:
        """Chunked search for the first exact exit at or after `start` (None: not in the series)."""
        count = self.close.shape[0]
        approximate_entry = float(entry_price)
        position, size = start, FIRST_CHUNK
        peak = self._highest_through(entry_index, approximate_entry, start - 1)
        while position < count:
            end = min(count, position + size)
            closes = self.close[position:end]
            hit = self._widened_hits(closes, approximate_entry, peak, position, entry_index)
            for offset in np.flatnonzero(hit).tolist():
                found = self._confirm(entry_index, entry_price, position + offset)
                if found is not None:
                    return found
            peak = max(peak, float(closes.max()))
            position, size = end, min(size * 4, LARGEST_CHUNK)
        return None

    def _highest_through(self, entry_index: int, entry_price: float, index: int) -> float:
        """The highest of the entry price and the closes after entry up to `index`."""
        index = min(index, self.close.shape[0] - 1)
        if index <= entry_index:
            return entry_price
        return max(entry_price, float(self.close[entry_index + 1 : index + 1].max()))

    def _confirm(self, entry_index: int, entry_price: Decimal, index: int) -> ExitFound | None:
        """The exit at `index` by the exact rules; the peak is the Decimal of the highest close."""
        peak = entry_price
        if index > entry_index:
            peak = max(peak, to_decimal(float(self.close[entry_index + 1 : index + 1].max())))
        rule = self._rule_at(index, entry_index, entry_price, peak)
        return None if rule is None else ExitFound(index, rule, peak)

    def _rule_at(self, index: int, entry_index: int, entry_price: Decimal, peak: Decimal) -> str | None:
        """The first rule, in TRADING_RULES.md order, that holds exactly at `index`."""
        price = to_decimal(float(self.close[index]))
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

    def _widened_hits(
        self, closes: FloatArray, entry_price: float, peak: float, position: int, entry_index: int
    ) -> BoolArray:
        """Every candle of the chunk where an exit could hold: price rules widened, indicator exits."""
        running_high = np.maximum(np.maximum.accumulate(closes), peak)
        hit = self._price_hits(closes, running_high, np.asarray(entry_price, dtype=np.float64))
        if self._any_indicator_exit is not None:
            allowed_from = max(position, entry_index + self._params.min_holding_bars)
            end = position + closes.shape[0]
            if allowed_from < end:
                hit[allowed_from - position :] |= self._any_indicator_exit[allowed_from:end]
        return hit
