"""How many requests the simulator answered, per method, path and market (`GET /_admin/requests`).

Lets tests and benchmarks prove what a client sends: e.g. that the engine's shared feed asks for
each (market, interval) once per cycle however many users watch it.
"""

from __future__ import annotations

import threading
from collections import Counter
from urllib.parse import parse_qsl

MARKET_PARAMETERS = ("market", "markets")


class RequestTally:
    """Counts keyed `"GET /v1/candles/minutes/1 market=KRW-BTC"` (the market part only when given)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, method: str, path: str, query_string: bytes) -> None:
        """Record one request."""
        key = f"{method} {path}"
        for name, value in parse_qsl(query_string.decode("latin-1")):
            if name in MARKET_PARAMETERS:
                key += f" {name}={value}"
                break
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        """Every count so far."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
