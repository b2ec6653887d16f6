"""Fault injection, switchable per run and at runtime (the reliability tests' tools).

Rates apply to every `/v1` request at random (seeded); scheduled faults hit the next requests
matching a method and path, which is what tests use to be deterministic. Kinds:

- `error`: a 5xx answer (JSON or an HTML maintenance page) without processing the request;
- `timeout`: the server stalls for `timeout_seconds`, then processes the request anyway;
- `drop`: the request is processed (an order is really placed), then the connection is closed
  without a usable answer;
- `malformed`: the request is processed, then the JSON body is cut short;
- `throttle`: a 429 answer, as if a rate-limit group were exhausted, without processing the
  request; a random one starts a burst of `throttle_burst_length` 429s in a row;
- `spike`: the answer is delayed by `spike_seconds` (a latency spike), then processed normally.
Latency is added to every `/v1` answer. Every injected fault is counted by kind, and so are the
429 and 418 answers of the real rate limits (`counts()`, `GET /_admin/faults/counts`).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal["error", "timeout", "drop", "malformed", "throttle", "spike"]
ORDER_PATH = "/v1/orders"


class FaultSettings(BaseModel):
    """Random faults for a whole run; all off by default.

    The rates are shares of all requests (the kinds exclude each other; if they add up to more
    than 1, the later kinds in `error, timeout, malformed, drop, throttle, spike` get less).
    """

    model_config = ConfigDict(extra="forbid")

    latency_seconds: float = Field(default=0.0, ge=0, le=60)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    drop_order_rate: float = Field(default=0.0, ge=0, le=1, description="share of POST /v1/orders dropped")
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    throttle_burst_rate: float = Field(
        default=0.0, ge=0, le=1, description="share of requests that start a burst of 429 answers"
    )
    throttle_burst_length: int = Field(default=5, ge=1, le=10_000, description="429s in a row per burst")
    spike_rate: float = Field(default=0.0, ge=0, le=1, description="share of answers delayed by a spike")
    spike_seconds: float = Field(default=2.0, ge=0, le=60)
    seed: int | None = None


class ScheduledFault(BaseModel):
    """A fault for the next `count` requests matching `method` and `path` (None: any)."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    count: int = Field(default=1, ge=1, le=1_000_000)

    def matches(self, method: str, path: str) -> bool:
        """True if this fault applies to a request."""
        method_ok = self.method is None or self.method.upper() == method
        return method_ok and (self.path is None or self.path == path)


class FaultInjector:
    """Decides which fault, if any, hits a request."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._scheduled: list[ScheduledFault] = []
        self._burst_left = 0  # 429s still due in the current random burst
        self._injected: Counter[str] = Counter()
        self._limited: Counter[str] = Counter()
        self.configure(settings or FaultSettings())

    @property
    def settings(self) -> FaultSettings:
        """The random-fault settings in force."""
        return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """Replace the random-fault settings (scheduled faults stay)."""
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)  # noqa: S311 - fault timing, not security
            self._burst_left = 0

    def schedule(self, fault: ScheduledFault) -> None:
        """Queue a fault for the next matching requests."""
        with self._lock:
            self._scheduled.append(fault.model_copy())

    def reset(self) -> None:
        """No faults at all."""
        with self._lock:
            self._scheduled.clear()
        self.configure(FaultSettings())

    def scheduled(self) -> list[ScheduledFault]:
        """Scheduled faults still waiting."""
        with self._lock:
            return [fault.model_copy() for fault in self._scheduled]

    def choose(self, method: str, path: str) -> FaultKind | None:
        """The fault for this request (counted), consuming a scheduled one first."""
        with self._lock:
            kind = self._scheduled_fault(method, path) or self._random_fault(method, path)
            if kind is not None:
                self._injected[kind] += 1
            return kind

    def note_rate_limited(self, status: int) -> None:
        """Count a 429 or 418 answer of the real rate limits (not an injected fault)."""
        with self._lock:
            self._limited[str(status)] += 1

    def counts(self) -> dict[str, dict[str, int]]:
        """Injected faults by kind, and the rate limits' own 429 / 418 answers by status."""
        with self._lock:
            return {"injected": dict(self._injected), "rate_limited": dict(self._limited)}

    def reset_counts(self) -> None:
        """Count from zero (switching faults off keeps the counts)."""
        with self._lock:
            self._injected.clear()
            self._limited.clear()

    def _scheduled_fault(self, method: str, path: str) -> FaultKind | None:
        for fault in self._scheduled:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count == 0:
                    self._scheduled.remove(fault)
                return fault.kind
        return None

    def _random_fault(self, method: str, path: str) -> FaultKind | None:
        settings = self._settings
        if self._burst_left > 0:
            self._burst_left -= 1
            return "throttle"
        chances: list[tuple[FaultKind, float]] = [
            ("error", settings.error_rate),
            ("timeout", settings.timeout_rate),
            ("malformed", settings.malformed_rate),
        ]
        if method == "POST" and path == ORDER_PATH:
            chances.append(("drop", settings.drop_order_rate))
        chances += [("throttle", settings.throttle_burst_rate), ("spike", settings.spike_rate)]
        draw = self._random.random()  # one draw, so each kind gets exactly its share
        for kind, rate in chances:
            if draw < rate:
                if kind == "throttle":
                    self._burst_left = settings.throttle_burst_length - 1
                return kind
            draw -= rate
        return None

    def pick_error_page(self) -> bool:
        """True for an HTML maintenance page, False for a JSON 500 (alternating at random)."""
        with self._lock:
            return self._random.random() < 0.5
