"""Typed Upbit errors, and the mapping from an HTTP error response to one of them.

Every class keeps Upbit's own error `name` (a string for Exchange errors, an integer for Quotation
parameter errors, None when the body was not Upbit's JSON) and `message`. No class ever receives a
secret: the mapping only sees the status, the body and the `Retry-After` header.
"""

from __future__ import annotations

import json
import math
from typing import Any

from tradebot.core.errors import OrderRejected, TradebotError

MAX_BODY_EXCERPT = 200
MAX_RETRY_AFTER_SECONDS = 86_400.0

AUTH_ERROR_NAMES = frozenset(
    {
        "jwt_verification",
        "invalid_query_payload",
        "expired_access_key",
        "invalid_access_key",
        "nonce_used",
        "no_authorization_ip",
        "no_authorization_i_p",  # the pre-2024 spelling, still documented in places
        "no_authorization_token",
        "out_of_scope",
    }
)

REJECTION_PREFIXES = (
    "insufficient_funds_",
    "under_min_total_",
    "over_max_total_",
    "invalid_price_",
    "invalid_volume_",
    "invalid_funds_",
    "create_ask_error",
    "create_bid_error",
)
REJECTION_NAMES = frozenset({"market_does_not_exist", "volume_too_large", "market_offline"})


class UpbitError(TradebotError):
    """Base of every error raised by the Upbit client."""

    def __init__(
        self,
        message: str,
        *,
        name: str | int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.name: str | int | None = name
        self.message = message
        self.status = status

    def __str__(self) -> str:
        # Built from the attributes, so subclasses that set them later still read right.
        return _describe(self.status, self.name, self.message)


class UpbitTemporaryError(UpbitError):
    """The request may succeed later: timeout, lost connection, 5xx or 429 throttling."""


class UpbitTimeoutError(UpbitTemporaryError):
    """No answer arrived in time; the request may or may not have been processed."""


class UpbitConnectionError(UpbitTemporaryError):
    """The connection failed or broke; the request may or may not have been processed."""


class UpbitServerError(UpbitTemporaryError):
    """Upbit answered 5xx (the body may be HTML during maintenance)."""


class UpbitThrottledError(UpbitTemporaryError):
    """Upbit answered 429: a rate-limit group was exceeded; the request was not processed."""


class UpbitBlockedError(UpbitError):
    """Upbit answered 418: the IP or account is blocked for a while after repeated 429s."""

    def __init__(
        self,
        message: str,
        *,
        name: str | int | None = None,
        status: int | None = 418,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message, name=name, status=status)
        self.retry_after_seconds = retry_after_seconds


class UpbitAuthError(UpbitError):
    """The API key, its permissions, its IP allow-list or the JWT was refused."""


class UpbitClientError(UpbitError):
    """Any other 4xx: bad parameters (integer `name` 400) and the like."""


class UpbitNotFoundError(UpbitClientError):
    """404: unknown market (`name` 404, "Code not found") or `order_not_found`."""


class UpbitResponseError(UpbitError):
    """A response body was malformed, truncated or not of the expected shape."""


class UpbitOrderRejectedError(OrderRejected, UpbitError):
    """Upbit refused an order (`insufficient_funds_bid`, `under_min_total_ask`, ...).

    A subclass of `tradebot.core.errors.OrderRejected`, so paper and live rejections are caught
    the same way.
    """

    name: str

    def __init__(self, name: str, message: str, *, status: int | None = None) -> None:
        super().__init__(name, message)
        self.status = status


class OrderStateUnknownError(UpbitError):
    """An order request failed in a way that leaves its outcome unknown.

    Upbit may or may not hold an order with `identifier`; resolve it later with
    `get_order(identifier=...)` before sending anything else for that intent.
    """

    def __init__(self, identifier: str, reason: str) -> None:
        super().__init__(f"outcome of order {identifier!r} is unknown: {reason}")
        self.identifier = identifier


def _describe(status: int | None, name: str | int | None, message: str) -> str:
    parts = ["Upbit"]
    if status is not None:
        parts.append(str(status))
    if name is not None and name != status:
        parts.append(str(name))
    return f"{' '.join(parts)}: {message}"


def parse_error_body(body: str) -> tuple[str | int | None, str]:
    """Upbit's `{"error": {"name", "message"}}`, or (None, an excerpt of a non-JSON body)."""
    try:
        document: Any = json.loads(body)
        error = document["error"]
        name = error.get("name")
        message = error.get("message")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None, _excerpt(body)
    if not isinstance(name, str | int) or isinstance(name, bool):
        name = None
    return name, message if isinstance(message, str) else _excerpt(body)


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    if len(text) > MAX_BODY_EXCERPT:
        return text[:MAX_BODY_EXCERPT] + "..."
    return text or "(empty body)"


def is_rejection_name(name: str | int | None) -> bool:
    """True for the error names that mean "this order was refused"."""
    if not isinstance(name, str):
        return False
    return name in REJECTION_NAMES or name.startswith(REJECTION_PREFIXES)


def error_from_response(
    status: int,
    body: str,
    *,
    order_request: bool = False,
    retry_after: str | None = None,
) -> UpbitError:
    """The typed error for an HTTP error response.

    `order_request` marks a request that creates an order: there any other 4xx with an Upbit
    error name (e.g. `validation_error`) is also a rejection of that order.
    """
    name, message = parse_error_body(body)
    if status == 418:
        seconds = _seconds_or_none(retry_after)
        return UpbitBlockedError(message, name=name, retry_after_seconds=seconds)
    if status == 429:
        return UpbitThrottledError(message, name=name, status=status)
    if status >= 500:
        return UpbitServerError(message, name=name, status=status)
    return _client_error(status, name, message, order_request=order_request)


def _client_error(status: int, name: str | int | None, message: str, *, order_request: bool) -> UpbitError:
    if status == 401 or name in AUTH_ERROR_NAMES:
        return UpbitAuthError(message, name=name, status=status)
    if is_rejection_name(name) or (order_request and isinstance(name, str)):
        return UpbitOrderRejectedError(str(name), message, status=status)
    if status == 404:
        return UpbitNotFoundError(message, name=name, status=status)
    return UpbitClientError(message, name=name, status=status)


def _seconds_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    # "inf" or 1e300 would block the client for ever (and overflow time.sleep): at most a day.
    return min(seconds, MAX_RETRY_AFTER_SECONDS) if math.isfinite(seconds) and seconds >= 0 else None
