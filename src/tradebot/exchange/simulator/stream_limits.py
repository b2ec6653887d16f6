"""Upbit's WebSocket limits (upbit-websocket.md "Limits"), counted in sliding windows.

New connections: 5 per second per IP (public) or per account (private); connections carrying an
`Origin` header (browsers): 1 per 10 s per IP. Subscription messages: 5 per second and 100 per
minute per connection. `enforce` (the REST limits' switch, `PUT /_admin/rate-limits`) turns all
of them off; the timer is the one the REST limits use, so tests can hold it still.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable

CONNECTIONS_PER_SECOND = 5
ORIGIN_CONNECTIONS_PER_10_SECONDS = 1
SUBSCRIPTIONS_PER_SECOND = 5
SUBSCRIPTIONS_PER_MINUTE = 100


class SlidingWindows:
    """Event times per key; an event is allowed while fewer than `limit` fall in the window."""

    def __init__(self, timer: Callable[[], float]) -> None:
        self._timer = timer
        self._lock = threading.Lock()
        self._events: dict[Hashable, deque[float]] = {}

    def allow(self, key: Hashable, rules: tuple[tuple[int, float], ...]) -> bool:
        """Count an event of `key` if every `(limit, window_seconds)` rule still has room."""
        with self._lock:
            now = self._timer()
            events = self._events.setdefault(key, deque())
            longest = max(window for _, window in rules)
            while events and events[0] <= now - longest:
                events.popleft()
            for limit, window in rules:
                if sum(1 for moment in events if moment > now - window) >= limit:
                    return False
            events.append(now)
            return True

    def forget(self, key: Hashable) -> None:
        """Drop a key's events (a closed connection)."""
        with self._lock:
            self._events.pop(key, None)

    def reset(self) -> None:
        """Forget every key."""
        with self._lock:
            self._events.clear()


class StreamLimits:
    """The connection and subscription limits of the WebSocket endpoints."""

    def __init__(self, timer: Callable[[], float], enforced: Callable[[], bool]) -> None:
        self._windows = SlidingWindows(timer)
        self._enforced = enforced

    def connection_allowed(self, scope_key: str, *, has_origin: bool, address: str) -> bool:
        """Count a new connection of `scope_key` (`ip:...` or `account:...`)."""
        if not self._enforced():
            return True
        if has_origin and not self._windows.allow(
            ("origin", address), ((ORIGIN_CONNECTIONS_PER_10_SECONDS, 10.0),)
        ):
            return False
        return self._windows.allow(("connect", scope_key), ((CONNECTIONS_PER_SECOND, 1.0),))

    def subscription_allowed(self, connection_id: int) -> bool:
        """Count a subscription message on one connection."""
        if not self._enforced():
            return True
        rules = ((SUBSCRIPTIONS_PER_SECOND, 1.0), (SUBSCRIPTIONS_PER_MINUTE, 60.0))
        return self._windows.allow(("subscribe", connection_id), rules)

    def closed(self, connection_id: int) -> None:
        """Forget a closed connection's subscription count."""
        self._windows.forget(("subscribe", connection_id))

    def reset(self) -> None:
        """Forget every count (`DELETE /_admin/rate-limits`)."""
        self._windows.reset()
