"""One simulated market: its price path, order book, candles, ticker and trades.

Everything a quotation endpoint shows and every fill price comes from here, so candles, ticker,
order book and fills always agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot.core.krw_rules import is_on_tick, tick_size, to_decimal
from tradebot.exchange.simulator.candles import (
    Period,
    aggregate,
    candle_documents,
    visible_end,
    with_forming,
)
from tradebot.exchange.simulator.formatting import amount_text, millis
from tradebot.exchange.simulator.orderbook import (
    BOOK_DEPTH,
    Level,
    build_levels,
    orderbook_document,
    ticks_above,
)
from tradebot.exchange.simulator.pricepath import Forming, PricePath
from tradebot.exchange.simulator.safeguards import MarketFlags
from tradebot.exchange.simulator.ticker import TradeQuery, ticker_document, trade_documents

# Names and a plausible starting price for markets a demo is likely to use.
KNOWN_MARKETS: dict[str, tuple[str, str, float]] = {
    "KRW-BTC": ("비트코인", "Bitcoin", 100_000_000.0),
    "KRW-ETH": ("이더리움", "Ethereum", 5_000_000.0),
    "KRW-XRP": ("엑스알피(리플)", "XRP", 3_000.0),
    "KRW-SOL": ("솔라나", "Solana", 200_000.0),
    "KRW-DOGE": ("도지코인", "Dogecoin", 300.0),
    "KRW-ADA": ("에이다", "Cardano", 1_000.0),
}
DEFAULT_START_PRICE = 10_000.0
MAX_PRICE = Decimal(10) ** 12  # far above any KRW price; keeps the float path finite


def start_price(market: str) -> float:
    """The price a generated path for `market` starts at."""
    return KNOWN_MARKETS.get(market, ("", "", DEFAULT_START_PRICE))[2]


@dataclass(frozen=True, slots=True)
class QuoteOverride:
    """Best bid and ask set by hand; valid while candle `index` is the current one."""

    index: int
    bid: Decimal
    ask: Decimal


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A last price set by hand; it stands while candle `index` is the current one.

    `high` and `low` are the extremes of every price set during that candle.
    """

    index: int
    price: Decimal
    high: Decimal
    low: Decimal


class MarketData:
    """Quotation views of one market at a given simulated time.

    The best ask sits `spread_ticks` ticks above the best bid, which is the last trade price
    (0: both are the last price, so market orders fill exactly at it).
    """

    def __init__(self, code: str, path: PricePath, *, seed: int, spread_ticks: int = 1) -> None:
        if spread_ticks < 0:
            raise ValueError(f"spread_ticks must be >= 0, got {spread_ticks}")
        self.code = code
        self.path = path
        self._seed = seed
        self._spread_ticks = spread_ticks
        self._override: QuoteOverride | None = None
        self._price_override: PriceOverride | None = None
        self.flags = MarketFlags()  # `market_event` and suspension, set through `/_admin/markets`

    @property
    def base_currency(self) -> str:
        """The coin: `BTC` of `KRW-BTC`."""
        return self.code.split("-", 1)[1]

    @property
    def quote_currency(self) -> str:
        """The currency prices are in: `KRW`."""
        return self.code.split("-", 1)[0]

    def index(self, now_ns: int) -> int:
        """The current base candle (never before the first one)."""
        return max(self.path.index_at(now_ns), 0)

    def has_candles(self, now_ns: int) -> bool:
        """False while the clock is before the first candle (a replay that starts later)."""
        return self.path.index_at(now_ns) >= 0

    def price(self, now_ns: int) -> Decimal:
        """The last trade price: set by hand during this candle, else the path's price now."""
        index = self.index(now_ns)
        override = self._price_override
        if override is not None and override.index == index:
            return override.price
        return self.path.price_at(index, now_ns)

    def forming(self, now_ns: int) -> Forming | None:
        """The current candle as traded so far (nothing yet before the first one); None in a gap."""
        index = self.index(now_ns)
        elapsed = max(now_ns - int(self.path.start_ns[index]), 0)
        if elapsed >= self.path.interval_ns:
            return None
        price = self.price(now_ns)
        extremes = [price, to_decimal(float(self.path.open[index]))]
        override = self._price_override
        if override is not None and override.index == index:
            extremes += [override.high, override.low]
        share = elapsed / self.path.interval_ns
        return Forming(index, float(price), float(max(extremes)), float(min(extremes)), share)

    def best_quotes(self, now_ns: int) -> tuple[Decimal, Decimal]:
        """Best bid and best ask."""
        index = self.index(now_ns)
        if self._override is not None and self._override.index == index:
            return self._override.bid, self._override.ask
        price = self.price(now_ns)
        return price, ticks_above(price, self._spread_ticks)

    def levels(self, now_ns: int, depth: int = BOOK_DEPTH) -> list[Level]:
        """The order book, best level first."""
        bid, ask = self.best_quotes(now_ns)
        return build_levels(bid, ask, f"{self._seed}:{self.code}:{self.index(now_ns)}:{bid}:{ask}", depth)

    def set_price(
        self, now_ns: int, price: Decimal, bid: Decimal | None = None, ask: Decimal | None = None
    ) -> None:
        """Make `price` the last trade price now; optionally pin the best bid and ask too."""
        for value in (price, bid, ask):
            if value is not None and not (value.is_finite() and 0 < value <= MAX_PRICE and is_on_tick(value)):
                raise ValueError(f"price {value} is not a price on the KRW tick grid up to {MAX_PRICE}")
        best_bid = bid if bid is not None else price
        best_ask = ask if ask is not None else ticks_above(best_bid, self._spread_ticks)
        if best_bid > best_ask or (best_bid == best_ask and ask is not None):
            raise ValueError(f"best bid {best_bid} must be below best ask {best_ask}")
        index = self.index(now_ns)
        self.path.override_close(index, float(price))
        self._override = (
            QuoteOverride(index, best_bid, best_ask) if bid is not None or ask is not None else None
        )
        self._remember_price(index, price)

    def _remember_price(self, index: int, price: Decimal) -> None:
        previous = self._price_override
        high = low = price
        if previous is not None and previous.index == index:
            high, low = max(high, previous.high), min(low, previous.low)
        self._price_override = PriceOverride(index, price, high, low)

    def orderbook(self, now_ns: int, count: int = BOOK_DEPTH) -> dict[str, object]:
        """Upbit's order book object with the best `count` levels."""
        return orderbook_document(self.code, self.levels(now_ns)[:count], millis(now_ns))

    def candles(self, period: Period, now_ns: int, to_ns: int | None, count: int) -> list[dict[str, object]]:
        """Up to `count` candles of `period` starting before `to_ns` (and now), newest first."""
        if not self.has_candles(now_ns):
            return []
        end = visible_end(self.path, period, self.index(now_ns), to_ns)
        buckets = with_forming(self.path, aggregate(self.path, period, end, count + 1), self.forming(now_ns))
        return candle_documents(self.code, period, self.path, buckets, count, now_ns)

    def ticker(self, now_ns: int) -> dict[str, object]:
        """Upbit's ticker object."""
        return ticker_document(self.code, self.path, self.index(now_ns), now_ns, self.forming(now_ns))

    def trades(self, now_ns: int, query: TradeQuery) -> list[dict[str, object]]:
        """Recent trades, newest first."""
        if not self.has_candles(now_ns):
            return []
        forming = self.forming(now_ns)
        return trade_documents(self.code, self.path, self.index(now_ns), now_ns, query, forming)

    def market_document(self, details: bool) -> dict[str, object]:
        """The `/v1/market/all` entry."""
        korean, english, _ = KNOWN_MARKETS.get(self.code, (self.base_currency, self.base_currency, 0.0))
        document: dict[str, object] = {"market": self.code, "korean_name": korean, "english_name": english}
        if details:
            document["market_event"] = self.flags.event_document()
        return document

    def instrument_document(self, now_ns: int) -> dict[str, object]:
        """The `/v1/orderbook/instruments` entry: the tick size at the current price."""
        return {
            "market": self.code,
            "quote_currency": self.quote_currency,
            "tick_size": amount_text(tick_size(self.price(now_ns))),
            "supported_levels": ["0"],
        }
