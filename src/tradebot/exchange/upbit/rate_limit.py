"""Client-side rate limiting per Upbit group (upbit-api.md §5), with an injectable clock.

Quotation groups are counted by Upbit per IP, so every client of one process must share one
limiter per group: `shared_rate_limits()` is that process-wide registry. Exchange groups are counted
per account (pocket), so those limiters are keyed by access key inside the registry.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from tradebot.core.clock import Clock, SystemClock

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` per `window_seconds`."""

    requests: int
    window_seconds: float = 1.0


# §5.1. `order` is 8/s (12/s since 2026-08-21): 8 is safe under both and matches the `min=480`
# Upbit still reports. `order-cancel-all` allows one request every 2 seconds.
QUOTATION_LIMITS: Mapping[str, RateLimit] = {
    "market": RateLimit(10),
    "candles": RateLimit(10),
    "ticker": RateLimit(10),
    "orderbook": RateLimit(10),
    "crix-trades": RateLimit(10),
}
EXCHANGE_LIMITS: Mapping[str, RateLimit] = {
    "default": RateLimit(30),
    "order": RateLimit(8),
    "order-test": RateLimit(8),
    "order-cancel-all": RateLimit(1, 2.0),
}
THROTTLE_PENALTY_SECONDS = 1.0
# History paging (warm-up, catch-up) may fill at most this share of a window: prices and the newest
# candles of every other user keep the rest, whatever one user's warm-up asks for (issue 19 #2).
BACKGROUND_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class RemainingRequests:
    """A parsed `Remaining-Req` header: `group=default; min=1800; sec=29`."""

    group: str
    per_second: int
    per_minute: int | None


_FIELD = re.compile(r"^\s*([A-Za-z_-]+)\s*=\s*([^;]*?)\s*$")
_COUNT = re.compile(r"[0-9]{1,9}")


def parse_remaining_req(header: str | None) -> RemainingRequests | None:
    """The header's values, or None when it is missing or does not carry a group and `sec`."""
    if not header:
        return None
    fields: dict[str, str] = {}
    for part in header.split(";"):
        match = _FIELD.match(part)
        if match:
            fields[match.group(1).lower()] = match.group(2)
    group = fields.get("group")
    per_second = _non_negative_int(fields.get("sec"))
    if not group or per_second is None:
        return None
    return RemainingRequests(group, per_second, _non_negative_int(fields.get("min")))


def _non_negative_int(text: str | None) -> int | None:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses, and a huge count
    # would exceed Python's digit limit for int(); nine digits are far above any real limit.
    if text is None or not _COUNT.fullmatch(text):
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """What one rate group has seen: requests sent, 429 (throttled) and 418 (blocked) answers."""

    requests: int = 0
    throttled: int = 0
    blocked: int = 0


class RateCounters:
    """Thread-safe request and throttling counts per rate group, for the health monitor."""

    def __init__(self) -> None:
        self._counts: dict[str, GroupCounts] = {}
        self._lock = threading.Lock()

    def record(self, group: str, *, requests: int = 0, throttled: int = 0, blocked: int = 0) -> None:
        """Add to `group`'s counts."""
        with self._lock:
            old = self._counts.get(group, GroupCounts())
            self._counts[group] = GroupCounts(
                old.requests + requests, old.throttled + throttled, old.blocked + blocked
            )

    def snapshot(self) -> dict[str, GroupCounts]:
        """A copy of every group's counts, by group name."""
        with self._lock:
            return dict(sorted(self._counts.items()))


class RateLimiter:
    """A sliding-window limiter for one group that also obeys what Upbit reports."""

    def __init__(
        self, limit: RateLimit, clock: Clock, *, group: str = "", counters: RateCounters | None = None
    ) -> None:
        self.limit = limit
        self.group = group
        self.counters = counters if counters is not None else RateCounters()
        self._clock = clock
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, *, background: bool = False) -> None:
        """Wait (on the clock) until one more request fits in the window, then count it.

        A `background` request (history paging) only goes while the window holds fewer than
        `BACKGROUND_SHARE` of the limit, and waits without holding the lock: a foreground request
        never queues behind it.
        """
        if background:
            self._acquire_background()
            return
        with self._lock:
            while True:
                now = self._clock.monotonic()
                wait = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.counters.record(self.group, requests=1)
                    return
                logger.debug("rate limit: waiting %.3f s", wait)
                self._clock.sleep(wait)

    def _acquire_background(self) -> None:
        capacity = max(1, int(self.limit.requests * BACKGROUND_SHARE))
        while True:
            with self._lock:
                now = self._clock.monotonic()
                wait = self._wait_needed(now, capacity)
                if wait <= 0:
                    self._sent.append(now)
                    self.counters.record(self.group, requests=1)
                    return
            logger.debug("rate limit: background request waiting %.3f s", wait)
            self._clock.sleep(wait)

    def _wait_needed(self, now: float, capacity: int | None = None) -> float:
        """Seconds until one more request fits while at most `capacity` (default: the limit) are sent."""
        window = self.limit.window_seconds
        capacity = self.limit.requests if capacity is None else capacity
        while self._sent and self._sent[0] <= now - window:
            self._sent.popleft()
        wait = self._blocked_until - now
        if len(self._sent) >= capacity:
            # The request that must leave the window for the count to drop under `capacity`.
            wait = max(wait, self._sent[len(self._sent) - capacity] + window - now)
        return wait

    def observe(self, remaining: RemainingRequests | None) -> None:
        """Take Upbit's count into account: it also sees this IP's or account's other clients."""
        if remaining is None:
            return
        with self._lock:
            now = self._clock.monotonic()
            if remaining.per_second == 0:
                # Upbit's window boundaries are unknown, so wait one full window to be sure.
                self._blocked_until = max(self._blocked_until, now + self.limit.window_seconds)
                return
            self._wait_needed(now)
            local_remaining = self.limit.requests - len(self._sent)
            # Someone else used part of the budget: count their requests as sent just now.
            self._sent.extend([now] * max(0, local_remaining - remaining.per_second))

    def penalize(self, seconds: float = THROTTLE_PENALTY_SECONDS) -> None:
        """Send nothing for `seconds` (after a 429 or 418)."""
        with self._lock:
            until = self._clock.monotonic() + seconds
            self._blocked_until = max(self._blocked_until, until)

    def count_status(self, status_code: int) -> None:
        """Count a 429 (throttled) or 418 (blocked) answer of this group; others are ignored."""
        if status_code in (429, 418):
            throttled, blocked = int(status_code == 429), int(status_code == 418)
            self.counters.record(self.group, throttled=throttled, blocked=blocked)


class RateLimitRegistry:
    """The limiters of one process: per group for quotation, per (access key, group) for exchange.

    Every limiter waits on this registry's `clock`; clients using the registry take the same clock
    for their retry backoff, so one injected fake clock covers all waiting.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        quotation_limits: Mapping[str, RateLimit] = QUOTATION_LIMITS,
        exchange_limits: Mapping[str, RateLimit] = EXCHANGE_LIMITS,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._quotation_limits = dict(quotation_limits)
        self._exchange_limits = dict(exchange_limits)
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._lock = threading.Lock()
        self.counters = RateCounters()  # per group, access keys left out (they are secrets' kin)

    def quotation(self, group: str) -> RateLimiter:
        """The per-IP limiter of a quotation group."""
        return self._limiter(("quotation", group), self._quotation_limits, group)

    def exchange(self, access_key: str, group: str) -> RateLimiter:
        """The per-account limiter of an exchange group."""
        return self._limiter((f"exchange:{access_key}", group), self._exchange_limits, group)

    def _limiter(self, key: tuple[str, str], limits: Mapping[str, RateLimit], group: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                # An unknown group gets the strictest known rate of its kind.
                fallback = min(limits.values(), key=lambda limit: limit.requests / limit.window_seconds)
                kind = "quotation" if key[0] == "quotation" else "exchange"
                limiter = RateLimiter(
                    limits.get(group, fallback), self.clock, group=f"{kind}:{group}", counters=self.counters
                )
                self._limiters[key] = limiter
            return limiter


_shared_registry: RateLimitRegistry | None = None
_shared_lock = threading.Lock()


def shared_rate_limits() -> RateLimitRegistry:
    """The process-wide registry on the system clock, used when a client is given none."""
    global _shared_registry  # noqa: PLW0603 - one registry per process is the point
    with _shared_lock:
        if _shared_registry is None:
            _shared_registry = RateLimitRegistry()
        return _shared_registry
