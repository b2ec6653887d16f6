"""The trades a market's stream shows, and the messages each trade produces.

The price path has no individual trades, so the stream makes them: each time the hub samples a
market (every `sample_seconds` of real time, and at once after a clock step) a trade prints when
the price moved or a new base candle has started trading, and every base candle that ended since
the last sample prints its closing trade at its last instant, so the last message of each candle
shows its final state (the one REST serves). A price set by hand is a trade at once. Candle
messages are only ever sent because of a trade, as Upbit's are; at most `MAX_CATCHUP` ended
candles are replayed after a long clock step (the rest is the gap a client fills from REST).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import NANOS_PER_SECOND
from tradebot.exchange.simulator.formatting import millis
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.stream_documents import (
    SecondCandle,
    Tick,
    minute_candle_message,
    orderbook_message,
    second_candle_message,
    ticker_message,
    trade_message,
)
from tradebot.exchange.simulator.stream_format import Document
from tradebot.exchange.simulator.stream_subscription import CANDLE_UNITS
from tradebot.exchange.simulator.ticker import SEQUENCE_PER_MILLI, TradeQuery

MAX_CATCHUP = 240  # ended base candles replayed per sample after a clock step
MIN_TICK_VOLUME = 0.0001  # a trade always moves some coin, even when the path's volume says none
Message = tuple[str, str, Document]  # (type, code, DEFAULT document)


@dataclass(slots=True)
class _State:
    """What the stream of one market has shown so far."""

    index: int  # the base candle of the last sample
    share: float  # how much of that candle had traded by then
    price: Decimal
    closed_through: int  # the last base candle whose closing trade was streamed
    last_sequence: int = 0
    last_tick: Tick | None = None
    second: SecondCandle | None = None


class MarketStreams:
    """Per-market stream state: the ticks printed and the 1-second candles they built."""

    def __init__(self) -> None:
        self._states: dict[str, _State] = {}

    def forget_except(self, codes: set[str]) -> None:
        """Drop the state of markets nobody watches (a later watcher starts afresh)."""
        for code in list(self._states):
            if code not in codes:
                del self._states[code]

    def watch(self, market: MarketData, now_ns: int) -> None:
        """Start following `market` now (a new subscriber): later samples print what follows."""
        if market.code not in self._states and market.has_candles(now_ns):
            self._states[market.code] = self._fresh(market, now_ns)

    def advance(self, market: MarketData, now_ns: int) -> list[Tick]:
        """The trades printed in `market` since the last call (none on the first one)."""
        if not market.has_candles(now_ns):
            return []
        state = self._states.get(market.code)
        if state is None:
            self._states[market.code] = self._fresh(market, now_ns)
            return []
        path, index = market.path, market.index(now_ns)
        elapsed = now_ns - int(path.start_ns[index])
        ended = index if elapsed >= path.interval_ns else index - 1
        ticks = [
            self._closing_tick(market, state, closed)
            for closed in range(max(state.closed_through + 1, ended - MAX_CATCHUP + 1), ended + 1)
        ]
        state.closed_through = max(state.closed_through, ended)
        price = market.price(now_ns)
        share = min(max(elapsed, 0) / path.interval_ns, 1.0)
        new_candle = index != state.index and 0 < elapsed < path.interval_ns
        if (price != state.price or new_candle) and elapsed < path.interval_ns:
            previous_share = state.share if index == state.index else 0.0
            volume = float(path.volume[index]) * max(share - previous_share, 0.0)
            ticks.append(self._tick(market.code, state, now_ns, price, volume))
        state.index, state.share = index, share
        return ticks

    def price_set(self, market: MarketData, now_ns: int) -> Tick:
        """The trade a price set by hand prints."""
        state = self._states.get(market.code)
        if state is None:
            state = self._states[market.code] = self._fresh(market, now_ns)
        index = market.index(now_ns)
        share = min(max(now_ns - int(market.path.start_ns[index]), 0) / market.path.interval_ns, 1.0)
        previous_share = state.share if index == state.index else 0.0
        volume = float(market.path.volume[index]) * max(share - previous_share, 0.0)
        state.index, state.share = index, share
        return self._tick(market.code, state, now_ns, market.price(now_ns), volume)

    def last_tick(self, market: MarketData, now_ns: int) -> Tick | None:
        """The latest trade of `market`: streamed, or else REST's latest."""
        state = self._states.get(market.code)
        if state is not None and state.last_tick is not None:
            return state.last_tick
        found = market.trades(now_ns, TradeQuery(count=1))
        if not found:
            return None
        trade = found[0]
        price = to_decimal(float(str(trade["trade_price"])))
        return Tick(
            int(str(trade["timestamp"])) * 1_000_000,
            price,
            float(str(trade["trade_volume"])),
            int(str(trade["sequential_id"])),
            str(trade["ask_bid"]),
        )

    def second_candle(self, market: MarketData, now_ns: int) -> SecondCandle | None:
        """The latest 1-second candle: streamed, or else the one of the latest trade."""
        state = self._states.get(market.code)
        if state is not None and state.second is not None:
            return state.second
        tick = self.last_tick(market, now_ns)
        return SecondCandle.opened_by(tick) if tick is not None else None

    def _fresh(self, market: MarketData, now_ns: int) -> _State:
        index = market.index(now_ns)
        elapsed = now_ns - int(market.path.start_ns[index])
        share = min(max(elapsed, 0) / market.path.interval_ns, 1.0)
        ended = index if elapsed >= market.path.interval_ns else index - 1
        # REST's trades stand at `ms x 10,000`; the latest (now's) id is taken, so start after it.
        return _State(index, share, market.price(now_ns), ended, millis(now_ns) * SEQUENCE_PER_MILLI)

    def _closing_tick(self, market: MarketData, state: _State, index: int) -> Tick:
        path = market.path
        at_ns = int(path.start_ns[index]) + path.interval_ns - 1  # the candle's last instant
        traded = state.share if index == state.index else 0.0
        volume = float(path.volume[index]) * max(1.0 - traded, 0.0)
        return self._tick(market.code, state, at_ns, to_decimal(float(path.close[index])), volume)

    @staticmethod
    def _tick(code: str, state: _State, at_ns: int, price: Decimal, volume: float) -> Tick:
        sequence = max(millis(at_ns) * SEQUENCE_PER_MILLI, state.last_sequence + 1)
        side = "BID" if price >= state.price else "ASK"
        tick = Tick(at_ns, price, max(volume, MIN_TICK_VOLUME), sequence, side)
        if state.second is not None and state.second.start_ns == at_ns - at_ns % NANOS_PER_SECOND:
            state.second.add(tick)
        else:
            state.second = SecondCandle.opened_by(tick)
        tick = tick.with_second(state.second)
        state.last_sequence, state.price, state.last_tick = sequence, price, tick
        return tick

    def messages(self, market: MarketData, tick: Tick, wanted: set[str]) -> list[Message]:
        """The messages of the wanted types one trade produces, in Upbit's order."""
        messages: list[Message] = []
        ticker = ticker_message(market, tick.at_ns, tick.ask_bid)
        if "trade" in wanted:
            previous = float(str(ticker["prev_closing_price"]))
            messages.append(("trade", market.code, trade_message(market, tick, previous)))
        if "ticker" in wanted:
            messages.append(("ticker", market.code, ticker))
        for unit in CANDLE_UNITS:
            name = f"candle.{unit}"
            if name in wanted and (document := self._candle(market, unit, tick)) is not None:
                messages.append((name, market.code, document))
        if "orderbook" in wanted:
            messages.append(("orderbook", market.code, orderbook_message(market, tick.at_ns, None)))
        return messages

    def _candle(self, market: MarketData, unit: str, tick: Tick) -> Document | None:
        if unit == "1s":
            return second_candle_message(market.code, tick.second or SecondCandle.opened_by(tick))
        return minute_candle_message(market, CANDLE_UNITS[unit] // 60, tick.at_ns)

    def snapshot(
        self, market: MarketData, message_type: str, now_ns: int, depth: int | None
    ) -> Document | None:
        """The SNAPSHOT message of one type for one market, now."""
        if not market.has_candles(now_ns):
            return None
        if message_type == "orderbook":
            return orderbook_message(market, now_ns, depth)
        if message_type.startswith("candle."):
            return self._candle_snapshot(market, message_type.removeprefix("candle."), now_ns)
        tick = self.last_tick(market, now_ns)
        if message_type == "ticker":
            return ticker_message(market, now_ns, tick.ask_bid if tick is not None else "BID")
        if tick is None:
            return None
        previous = float(str(ticker_message(market, tick.at_ns, tick.ask_bid)["prev_closing_price"]))
        return trade_message(market, tick, previous)

    def _candle_snapshot(self, market: MarketData, unit: str, now_ns: int) -> Document | None:
        # Upbit: with no candle of the current interval yet, the previous one is the snapshot.
        if unit == "1s":
            candle = self.second_candle(market, now_ns)
            return second_candle_message(market.code, candle) if candle is not None else None
        return minute_candle_message(market, CANDLE_UNITS[unit] // 60, now_ns)
