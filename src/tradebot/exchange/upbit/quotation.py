"""Upbit quotation (public) REST client: markets, candles, tickers, order books, tick sizes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TypeVar

from tradebot.core.models import Candle, Interval
from tradebot.exchange.upbit.errors import UpbitResponseError
from tradebot.exchange.upbit.models import (
    Dated,
    Instrument,
    Market,
    Orderbook,
    Ticker,
    parse_candle,
    parse_instrument,
    parse_market,
    parse_orderbook,
    parse_ticker,
)
from tradebot.exchange.upbit.orders import check_market_code
from tradebot.exchange.upbit.parsing import Fields, as_list
from tradebot.exchange.upbit.session import ApiCall, UpbitSession

MAX_CANDLES_PER_REQUEST = 200
MINUTE_CANDLE_UNITS = frozenset({1, 3, 5, 10, 15, 30, 60, 240})

ParsedT = TypeVar("ParsedT")


class UpbitQuotationClient:
    """Public market data. GETs are retried on temporary errors with backoff on the clock."""

    def __init__(self, session: UpbitSession | None = None) -> None:
        self.session = session if session is not None else UpbitSession()

    def close(self) -> None:
        """Close the underlying session."""
        self.session.close()

    def __enter__(self) -> UpbitQuotationClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def list_markets(self, *, details: bool = False) -> list[Market]:
        """Every trading pair (`/v1/market/all`); `details` adds the warning and caution flags."""
        query = (("is_details", "true" if details else "false"),)
        return self._get_list("/v1/market/all", "market", query, parse_market)

    def get_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> list[Candle]:
        """Up to `count` candles starting before `to` (default: now), oldest first.

        Pages of at most 200 going backwards with `to`. Upbit only has candles for intervals with
        trades, so a quiet market gives gaps; they are kept, never filled. The newest candle may
        still be in progress (see `Candle.is_closed`).
        """
        return self.read_candles(market, interval, count, to=to).value

    def read_candles(
        self, market: str, interval: Interval, count: int, *, to: datetime | None = None
    ) -> Dated[list[Candle]]:
        """`get_candles` with the exchange's time of the answer holding the newest candles.

        That is the first page's `Date`: later pages only reach further back. Every page after the
        first, and every page of a request with `to`, is history paging and goes through the rate
        limiter's background lane, so it never holds up a price or the newest candles.
        """
        check_market_code(market)
        if count < 1:
            raise ValueError(f"candle count must be at least 1, got {count}")
        path = _candle_path(interval)
        newest_first: list[Candle] = []
        cursor = _ceil_to_second(to) if to is not None else None
        server_time: datetime | None = None
        while len(newest_first) < count:
            wanted = min(MAX_CANDLES_PER_REQUEST, count - len(newest_first))
            page = self._candle_page(path, market, wanted, cursor)
            if not newest_first:  # the first page: the one with the newest candles
                server_time = page.server_time
            if not page.value:
                break  # no older candles exist
            newest_first.extend(page.value)
            cursor = page.value[-1].start
        newest_first.reverse()
        return Dated(newest_first, server_time)

    def _candle_page(
        self, path: str, market: str, count: int, cursor: datetime | None
    ) -> Dated[list[Candle]]:
        query = [("market", market), ("count", str(count))]
        if cursor is not None:
            query.append(("to", cursor.strftime("%Y-%m-%dT%H:%M:%SZ")))
        answer = self._read_list(path, "candles", tuple(query), parse_candle, background=cursor is not None)
        page = answer.value
        page.sort(key=lambda candle: candle.start, reverse=True)
        del page[count:]
        for newer, older in itertools.pairwise(page):
            if newer.start == older.start:
                raise UpbitResponseError(f"{path}: duplicate candle at {older.start.isoformat()}")
        if page and cursor is not None and page[0].start >= cursor:
            # `to` is exclusive; a candle at or after it would make paging loop forever.
            raise UpbitResponseError(f"{path}: candle {page[0].start.isoformat()} is not before to")
        return answer

    def get_tickers(self, markets: Sequence[str]) -> list[Ticker]:
        """Current prices of several markets in one request (`markets=KRW-BTC,KRW-ETH`)."""
        return self.read_tickers(markets).value

    def read_tickers(self, markets: Sequence[str]) -> Dated[list[Ticker]]:
        """`get_tickers` with the exchange's time of the answer (its `Date`)."""
        return self._read_list("/v1/ticker", "ticker", _markets_query(markets), parse_ticker)

    def get_orderbooks(self, markets: Sequence[str]) -> list[Orderbook]:
        """Order books of several markets in one request."""
        return self._get_list("/v1/orderbook", "orderbook", _markets_query(markets), parse_orderbook)

    def get_instruments(self, markets: Sequence[str]) -> list[Instrument]:
        """Tick sizes of several markets (`/v1/orderbook/instruments`)."""
        query = _markets_query(markets)
        return self._get_list("/v1/orderbook/instruments", "orderbook", query, parse_instrument)

    def _get_list(
        self,
        path: str,
        group: str,
        query: tuple[tuple[str, str], ...],
        parse: Callable[[Fields], ParsedT],
    ) -> list[ParsedT]:
        return self._read_list(path, group, query, parse).value

    def _read_list(
        self,
        path: str,
        group: str,
        query: tuple[tuple[str, str], ...],
        parse: Callable[[Fields], ParsedT],
        *,
        background: bool = False,
    ) -> Dated[list[ParsedT]]:
        call = ApiCall("GET", path, group, query, background=background)
        limiter = self.session.rate_limits.quotation(group)
        answer = self.session.answer_with_retry(call, limiter, None)
        items = as_list(answer.body, call.label)
        parsed = [parse(Fields(item, f"{call.label}[{index}]")) for index, item in enumerate(items)]
        return Dated(parsed, answer.server_time)


def _candle_path(interval: Interval) -> str:
    if interval is Interval.DAY:
        return "/v1/candles/days"
    minutes, remainder = divmod(interval.seconds, 60)
    if remainder or minutes not in MINUTE_CANDLE_UNITS:
        raise ValueError(f"Upbit has no candles for interval {interval.value}")
    return f"/v1/candles/minutes/{minutes}"


def _ceil_to_second(moment: datetime) -> datetime:
    # `to` is exclusive and goes on the wire with whole seconds; rounding up keeps a candle that
    # starts within the dropped fraction of a second.
    if moment.tzinfo is None:
        raise ValueError(f"candle 'to' must be an aware datetime, got {moment!r}")
    utc = moment.astimezone(UTC)
    whole = utc.replace(microsecond=0)
    return whole if whole == utc else whole + timedelta(seconds=1)


def _markets_query(markets: Sequence[str]) -> tuple[tuple[str, str], ...]:
    if isinstance(markets, str) or not markets:
        raise ValueError("markets must be a non-empty sequence of market codes")
    return (("markets", ",".join(check_market_code(market) for market in markets)),)
