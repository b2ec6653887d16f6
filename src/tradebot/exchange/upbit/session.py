"""The HTTP layer shared by the quotation and exchange clients.

It renders the query string itself and sends exactly those bytes (so the JWT `query_hash` covers
what goes on the wire), waits on the group's rate limiter, maps failures to typed errors and
decodes JSON with Decimal numbers. The base URL, timeout and httpx transport are configuration, so
the same client runs against api.upbit.com, a loopback simulator or an `httpx.MockTransport`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

from tradebot.core.clock import Clock
from tradebot.exchange.upbit.auth import QueryPairs, Signer, render_query
from tradebot.exchange.upbit.errors import (
    UpbitBlockedError,
    UpbitConnectionError,
    UpbitError,
    UpbitResponseError,
    UpbitTemporaryError,
    UpbitThrottledError,
    UpbitTimeoutError,
    error_from_response,
)
from tradebot.exchange.upbit.parsing import decode_json
from tradebot.exchange.upbit.rate_limit import (
    RateLimiter,
    RateLimitRegistry,
    parse_remaining_req,
    shared_rate_limits,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.upbit.com"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
BLOCKED_PENALTY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request: method, path under the base URL, rate-limit group and parameters.

    `body` is None for GET/DELETE; for POST it holds the JSON fields in sending order.
    `creates_order` makes 4xx answers order rejections. `background` sends it in the rate
    limiter's background lane (history paging: it takes only a share of the group's budget).
    """

    method: str
    path: str
    group: str
    query: QueryPairs = ()
    body: QueryPairs | None = None
    creates_order: bool = False
    background: bool = False

    @property
    def label(self) -> str:
        """`METHOD /path`, for messages and logs."""
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A decoded 2xx body and the exchange's time when it answered.

    `server_time` is the answer's `Date` header (whole seconds, so it is at or before the moment
    the exchange wrote it: the safe side for deciding that a candle closed), None without one.
    """

    body: object
    server_time: datetime | None


class UpbitSession:
    """Connection settings, the httpx client and the rate limiters shared by Upbit clients.

    `rate_limits` defaults to the process-wide registry (quotation limits are per IP); its clock
    is also used for retry backoff, so injecting a registry with a fake clock removes all real
    waiting. `attempts` bounds how often an idempotent GET is tried on a temporary error.
    """

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        rate_limits: RateLimitRegistry | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"Upbit base URL must start with http:// or https://: {base_url!r}")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.rate_limits = rate_limits if rate_limits is not None else shared_rate_limits()
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    @property
    def clock(self) -> Clock:
        """The clock every wait of this session uses (the rate-limit registry's)."""
        return self.rate_limits.clock

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> UpbitSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), doubling each time."""
        return float(min(self.backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    def send_with_retry(self, call: ApiCall, limiter: RateLimiter, signer: Signer | None) -> object:
        """`send`, tried up to `attempts` times on temporary errors. Only for idempotent calls."""
        return self.answer_with_retry(call, limiter, signer).body

    def answer_with_retry(self, call: ApiCall, limiter: RateLimiter, signer: Signer | None) -> Answer:
        """`answer`, tried up to `attempts` times on temporary errors. Only for idempotent calls."""
        for attempt in range(1, self.attempts):
            try:
                return self.answer(call, limiter, signer)
            except UpbitTemporaryError as error:
                delay = self.backoff(attempt)
                logger.warning(
                    "%s failed (%s); attempt %d of %d, retrying in %.1f s",
                    call.label,
                    error,
                    attempt,
                    self.attempts,
                    delay,
                )
                self.clock.sleep(delay)
        return self.answer(call, limiter, signer)

    def send(self, call: ApiCall, limiter: RateLimiter, signer: Signer | None) -> object:
        """One attempt: the decoded JSON body of a 2xx answer, else a typed `UpbitError`."""
        return self.answer(call, limiter, signer).body

    def answer(self, call: ApiCall, limiter: RateLimiter, signer: Signer | None) -> Answer:
        """One attempt: the decoded body of a 2xx answer with its `Date`, else a typed `UpbitError`."""
        request, token = self._build(call, signer)
        limiter.acquire(background=call.background)
        outcome = self._transmit(call, request, lambda text: _redact(text, token, signer))
        # Raised outside the except blocks: the httpx exception holds the request and with it
        # the Authorization header, and must not be chained into ours.
        if isinstance(outcome, UpbitError):
            raise outcome
        limiter.observe(parse_remaining_req(outcome.headers.get("Remaining-Req")))
        body = _redact(outcome.text, token, signer)
        logger.debug("%s -> %d", call.label, outcome.status_code)
        if not outcome.is_success:
            raise self._failure(call, outcome, body, limiter)
        return Answer(decode_json(body, call.label), parse_http_date(outcome.headers.get("Date")))

    def _build(self, call: ApiCall, signer: Signer | None) -> tuple[httpx.Request, str]:
        query = render_query(call.query)
        url = f"{self.base_url}{call.path}" + (f"?{query}" if query else "")
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        hashed = query
        if call.body is not None:
            hashed = render_query(call.body)
            content = json.dumps(dict(call.body), separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        token = ""
        if signer is not None:
            token = signer.token(hashed)
            headers["Authorization"] = f"Bearer {token}"
        return self._client.build_request(call.method, url, content=content, headers=headers), token

    def _transmit(
        self, call: ApiCall, request: httpx.Request, redact: Callable[[str], str]
    ) -> httpx.Response | UpbitError:
        try:
            return self._client.send(request)
        except httpx.TimeoutException as error:
            reason = redact(f"{type(error).__name__}: {error}")
            return UpbitTimeoutError(f"{call.label}: no answer in time ({reason})")
        except httpx.DecodingError as error:
            reason = redact(f"{type(error).__name__}: {error}")
            return UpbitResponseError(f"{call.label}: undecodable body ({reason})")
        except httpx.RequestError as error:
            reason = redact(f"{type(error).__name__}: {error}")
            return UpbitConnectionError(f"{call.label}: connection failed ({reason})")

    def _failure(
        self, call: ApiCall, response: httpx.Response, body: str, limiter: RateLimiter
    ) -> UpbitError:
        error = error_from_response(
            response.status_code,
            body,
            order_request=call.creates_order,
            retry_after=response.headers.get("Retry-After"),
        )
        limiter.count_status(response.status_code)
        if isinstance(error, UpbitThrottledError):
            limiter.penalize()
        elif isinstance(error, UpbitBlockedError):
            limiter.penalize(error.retry_after_seconds or BLOCKED_PENALTY_SECONDS)
        # Info, not warning: a 404 from an order lookup or a rejected order is an expected answer.
        logger.info("%s -> %s", call.label, error)
        return error


def parse_http_date(header: str | None) -> datetime | None:
    """An HTTP `Date` header (`Fri, 04 Dec 2026 15:31:13 GMT`) as aware UTC, None if absent or bad."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # `-0000` means "UTC, source unknown" to the parser
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _redact(text: str, token: str, signer: Signer | None) -> str:
    # Defence in depth: a body echoing our request must not carry the JWT or secret further.
    if token:
        text = text.replace(token, "[redacted]")
    return signer.credentials.redact(text) if signer is not None else text
