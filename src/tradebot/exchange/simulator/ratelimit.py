"""Upbit's rate limits as the server applies them (upbit-api.md §5, §11.7).

Each group has its own budget per one-second window (two seconds for `order-cancel-all`):
quotation groups per client IP, exchange groups per account. Every answer carries
`Remaining-Req`; a request over budget gets 429, and a client that keeps sending after 429s gets
418 and is blocked for a while, longer on each repeat offence. The timer is injected, so tests
can hold a window still.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class GroupLimit:
    """Requests allowed per window, and the fixed `min=` value Upbit still reports."""

    requests: int
    window_seconds: float
    per_minute: int


GROUP_LIMITS: dict[str, GroupLimit] = {
    "market": GroupLimit(10, 1.0, 600),
    "candles": GroupLimit(10, 1.0, 600),
    "ticker": GroupLimit(10, 1.0, 600),
    "orderbook": GroupLimit(10, 1.0, 600),
    "crix-trades": GroupLimit(10, 1.0, 600),
    "default": GroupLimit(30, 1.0, 1800),
    "order": GroupLimit(8, 1.0, 480),
    "order-test": GroupLimit(8, 1.0, 480),
    "order-cancel-all": GroupLimit(1, 2.0, 30),
}
QUOTATION_GROUPS = frozenset({"market", "candles", "ticker", "orderbook", "crix-trades"})
MAX_BLOCK_SECONDS = 3600.0
THROTTLED_TEXT = "Too many API requests."


class RateLimitSettings(BaseModel):
    """Whether limits are enforced, and how a client that ignores 429s is treated."""

    model_config = ConfigDict(extra="forbid")

    enforce: bool = True
    block_after: int = Field(default=10, ge=1, description="429s in a row before a 418 block")
    block_seconds: float = Field(default=10.0, gt=0, le=MAX_BLOCK_SECONDS)
    body: Literal["text", "json"] = "text"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one request: 200 (go on), 429 or 418, and the `Remaining-Req` value."""

    status: int
    remaining_req: str
    retry_after: int | None = None


@dataclass(slots=True)
class _Window:
    number: int = -1
    count: int = 0


@dataclass(slots=True)
class _Offender:
    strikes: int = 0
    offences: int = 0
    blocked_until: float = 0.0


class Throttle:
    """Counts requests per (scope, group) and decides 200, 429 or 418."""

    def __init__(self, settings: RateLimitSettings, timer: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._timer = timer
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._offenders: dict[str, _Offender] = {}

    def reset(self) -> None:
        """Forget every count and block."""
        with self._lock:
            self._windows.clear()
            self._offenders.clear()

    def check(self, scope: str, group: str) -> Verdict:
        """Count one request of `scope` (an IP or an account) in `group`."""
        limit = GROUP_LIMITS[group]
        with self._lock:
            now = self._timer()
            offender = self._offenders.setdefault(scope, _Offender())
            if offender.blocked_until > now:
                return Verdict(418, _header(group, limit, 0), math.ceil(offender.blocked_until - now))
            window = self._windows.setdefault((scope, group), _Window())
            number = math.floor(now / limit.window_seconds)
            if window.number != number:
                window.number, window.count = number, 0
            if window.count >= limit.requests and self.settings.enforce:
                return self._throttled(offender, group, limit, now)
            window.count += 1
            offender.strikes = 0
            return Verdict(200, _header(group, limit, max(limit.requests - window.count, 0)))

    def _throttled(self, offender: _Offender, group: str, limit: GroupLimit, now: float) -> Verdict:
        offender.strikes += 1
        if offender.strikes < self.settings.block_after:
            return Verdict(429, _header(group, limit, 0))
        offender.strikes = 0
        offender.offences += 1
        seconds = min(self.settings.block_seconds * 2 ** (offender.offences - 1), MAX_BLOCK_SECONDS)
        offender.blocked_until = now + seconds
        return Verdict(418, _header(group, limit, 0), math.ceil(seconds))


def _header(group: str, limit: GroupLimit, remaining: int) -> str:
    return f"group={group}; min={limit.per_minute}; sec={remaining}"


def group_of(method: str, path: str) -> str | None:
    """The rate-limit group of an Upbit path, None for paths outside `/v1`."""
    if not path.startswith("/v1/"):
        return None
    quotation = (
        ("/v1/market/", "market"),
        ("/v1/candles/", "candles"),
        ("/v1/ticker", "ticker"),
        ("/v1/orderbook", "orderbook"),
        ("/v1/trades/", "crix-trades"),
    )
    for prefix, group in quotation:
        if path.startswith(prefix):
            return group
    if method == "POST" and path in ("/v1/orders", "/v1/orders/cancel_and_new"):
        return "order"
    if method == "POST" and path == "/v1/orders/test":
        return "order-test"
    if method == "DELETE" and path == "/v1/orders/open":
        return "order-cancel-all"
    return "default"
