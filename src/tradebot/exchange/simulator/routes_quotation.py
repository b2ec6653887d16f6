"""Quotation endpoints: markets, candles, tickers, order books, instruments, trades (§2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tradebot.exchange.simulator.candles import MINUTE_UNITS, Period
from tradebot.exchange.simulator.errors import (
    code_not_found,
    invalid_parameter,
    missing_parameter,
    type_mismatch,
)
from tradebot.exchange.simulator.formatting import utc_to_nanos
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.params import RequestParams, require
from tradebot.exchange.simulator.ticker import TradeQuery
from tradebot.exchange.simulator.web import UpbitJSONResponse, exchange_of, read_params

MAX_CANDLES = 200
MAX_TRADES = 500
MAX_BOOK_UNITS = 30
_LOST_PLUS = re.compile(r"T(\d\d:\d\d:\d\d(?:\.\d+)?) (\d\d:?\d\d)$")  # `+09:00` sent unescaped
_TRADE_TIME = re.compile(r"^(\d\d):?(\d\d):?(\d\d)$")


def _count(params: RequestParams, default: int, most: int) -> int:
    text = params.first("count")
    if text is None:
        return default
    if not text.isdigit():
        raise type_mismatch()
    if int(text) < 1:
        raise invalid_parameter()
    return min(int(text), most)


def _markets(request: Request, params: RequestParams, key: str = "markets") -> list[MarketData]:
    codes = params.list_values(key)
    if not codes:
        raise missing_parameter()
    exchange = exchange_of(request)
    return [exchange.market(code) for code in codes]


def parse_to(text: str) -> int:
    """A candle `to` in any accepted form (§2.1) as epoch ns; no offset means UTC."""
    normalized = _LOST_PLUS.sub(r"T\1+\2", text.strip())
    try:
        moment = datetime.fromisoformat(normalized)
    except ValueError:
        raise invalid_parameter() from None
    return utc_to_nanos(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


async def market_all(request: Request) -> Response:
    """`GET /v1/market/all`."""
    params = await read_params(request)
    flag = (params.first("is_details") or params.first("isDetails") or "false").lower()
    if flag not in ("true", "false"):
        raise type_mismatch()
    exchange = exchange_of(request)
    with exchange.lock:
        documents = [market.market_document(flag == "true") for market in exchange.markets.values()]
    return UpbitJSONResponse(documents)


def _period(request: Request) -> Period:
    kind, unit = request.path_params["kind"], request.path_params.get("unit")
    if kind == "minutes":
        if unit is None or not unit.isdigit() or int(unit) not in MINUTE_UNITS:
            raise invalid_parameter()
        return Period("minutes", int(unit))
    if kind not in ("days", "weeks", "months", "years", "seconds") or unit is not None:
        raise code_not_found()
    return Period(kind)


async def candles(request: Request) -> Response:
    """`GET /v1/candles/{minutes/unit|days|weeks|months|years|seconds}`."""
    period = _period(request)
    params = await read_params(request)
    code = require(params, "market", missing_parameter())
    count = _count(params, 1, MAX_CANDLES)
    to_text = params.first("to")
    to_ns = parse_to(to_text) if to_text else None
    exchange = exchange_of(request)
    with exchange.lock:
        market = exchange.market(code)
        now_ns = exchange.refresh()
        if period.kind == "seconds":
            return UpbitJSONResponse([])  # the path has no finer grain than its base candles
        if not period.supported_by(market.path.interval_ns):
            raise invalid_parameter()  # a replayed file cannot be split into finer candles
        documents = market.candles(period, now_ns, to_ns, count)
    return UpbitJSONResponse(documents)


async def ticker(request: Request) -> Response:
    """`GET /v1/ticker?markets=KRW-BTC,KRW-ETH` (repeated `markets=` too)."""
    params = await read_params(request)
    exchange = exchange_of(request)
    with exchange.lock:
        markets = _markets(request, params)
        now_ns = exchange.refresh()
        return UpbitJSONResponse([market.ticker(now_ns) for market in markets])


async def ticker_all(request: Request) -> Response:
    """`GET /v1/ticker/all?quote_currencies=KRW`."""
    params = await read_params(request)
    quotes = params.list_values("quote_currencies")
    if not quotes:
        raise missing_parameter()
    exchange = exchange_of(request)
    with exchange.lock:
        now_ns = exchange.refresh()
        chosen = [market for market in exchange.markets.values() if market.quote_currency in quotes]
        return UpbitJSONResponse([market.ticker(now_ns) for market in chosen])


async def orderbook(request: Request) -> Response:
    """`GET /v1/orderbook?markets=...&count=30` (level 0 only)."""
    params = await read_params(request)
    if (params.first("level") or "0") != "0":
        raise invalid_parameter()
    count = _count(params, MAX_BOOK_UNITS, MAX_BOOK_UNITS)
    exchange = exchange_of(request)
    with exchange.lock:
        markets = _markets(request, params)
        now_ns = exchange.refresh()
        books = [market.orderbook(now_ns, count) for market in markets]
    return UpbitJSONResponse(books)


async def instruments(request: Request) -> Response:
    """`GET /v1/orderbook/instruments?markets=...`."""
    params = await read_params(request)
    exchange = exchange_of(request)
    with exchange.lock:
        markets = _markets(request, params)
        now_ns = exchange.refresh()
        return UpbitJSONResponse([market.instrument_document(now_ns) for market in markets])


def _trade_query(params: RequestParams, now_ns: int) -> TradeQuery:
    count = _count(params, 1, MAX_TRADES)
    cursor_text = params.first("cursor")
    if cursor_text is not None and not cursor_text.isdigit():
        raise type_mismatch()
    days_ago_text = params.first("days_ago")
    if days_ago_text is not None and (not days_ago_text.isdigit() or not 1 <= int(days_ago_text) <= 7):
        raise invalid_parameter()
    day_ns = 86_400 * 10**9
    day_start = (now_ns // day_ns - int(days_ago_text or 0)) * day_ns
    upper = day_start + day_ns if days_ago_text else None
    to_text = params.first("to")
    if to_text:
        match = _TRADE_TIME.match(to_text)
        if match is None:
            raise invalid_parameter()
        hours, minutes, seconds = (int(part) for part in match.groups())
        upper = day_start + ((hours * 60 + minutes) * 60 + seconds) * 10**9
    lower = day_start if days_ago_text else None
    return TradeQuery(count, upper, lower, int(cursor_text) if cursor_text else None)


async def trades_ticks(request: Request) -> Response:
    """`GET /v1/trades/ticks?market=...&count=...` (newest first)."""
    params = await read_params(request)
    code = require(params, "market", missing_parameter())
    exchange = exchange_of(request)
    with exchange.lock:
        market = exchange.market(code)
        now_ns = exchange.refresh()
        return UpbitJSONResponse(market.trades(now_ns, _trade_query(params, now_ns)))


ROUTES = [
    Route("/v1/market/all", market_all, methods=["GET"]),
    Route("/v1/candles/{kind}", candles, methods=["GET"]),
    Route("/v1/candles/{kind}/{unit}", candles, methods=["GET"]),
    Route("/v1/ticker", ticker, methods=["GET"]),
    Route("/v1/ticker/all", ticker_all, methods=["GET"]),
    Route("/v1/orderbook", orderbook, methods=["GET"]),
    Route("/v1/orderbook/instruments", instruments, methods=["GET"]),
    Route("/v1/trades/ticks", trades_ticks, methods=["GET"]),
]
