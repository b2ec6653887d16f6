"""Upbit REST client: httpx + PyJWT, typed results, typed errors, rate limits (upbit-api.md).

Build one `UpbitSession` (base URL, timeout, httpx transport, rate-limit registry) and hand it to
`UpbitQuotationClient` and, for a key pair, `UpbitExchangeClient`.
"""

from tradebot.core.clock import Clock, SystemClock
from tradebot.exchange.upbit.auth import Credentials, Signer
from tradebot.exchange.upbit.errors import (
    OrderStateUnknownError,
    UpbitAuthError,
    UpbitBlockedError,
    UpbitClientError,
    UpbitConnectionError,
    UpbitError,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
    UpbitResponseError,
    UpbitServerError,
    UpbitTemporaryError,
    UpbitThrottledError,
    UpbitTimeoutError,
)
from tradebot.exchange.upbit.exchange_api import UpbitExchangeClient
from tradebot.exchange.upbit.models import (
    Account,
    ApiKey,
    Dated,
    Instrument,
    Market,
    MarketRules,
    Orderbook,
    OrderbookUnit,
    OrderChance,
    Ticker,
)
from tradebot.exchange.upbit.orders import (
    Order,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderType,
    TimeInForce,
    Trade,
    new_order_identifier,
)
from tradebot.exchange.upbit.quotation import UpbitQuotationClient
from tradebot.exchange.upbit.rate_limit import (
    RateLimit,
    RateLimiter,
    RateLimitRegistry,
    RemainingRequests,
    parse_remaining_req,
    shared_rate_limits,
)
from tradebot.exchange.upbit.session import DEFAULT_BASE_URL, UpbitSession

__all__ = [
    "DEFAULT_BASE_URL",
    "Account",
    "ApiKey",
    "Clock",
    "Credentials",
    "Dated",
    "Instrument",
    "Market",
    "MarketRules",
    "Order",
    "OrderChance",
    "OrderRequest",
    "OrderSide",
    "OrderState",
    "OrderStateUnknownError",
    "OrderType",
    "Orderbook",
    "OrderbookUnit",
    "RateLimit",
    "RateLimitRegistry",
    "RateLimiter",
    "RemainingRequests",
    "Signer",
    "SystemClock",
    "Ticker",
    "TimeInForce",
    "Trade",
    "UpbitAuthError",
    "UpbitBlockedError",
    "UpbitClientError",
    "UpbitConnectionError",
    "UpbitError",
    "UpbitExchangeClient",
    "UpbitNotFoundError",
    "UpbitOrderRejectedError",
    "UpbitQuotationClient",
    "UpbitResponseError",
    "UpbitServerError",
    "UpbitSession",
    "UpbitTemporaryError",
    "UpbitThrottledError",
    "UpbitTimeoutError",
    "new_order_identifier",
    "parse_remaining_req",
    "shared_rate_limits",
]
