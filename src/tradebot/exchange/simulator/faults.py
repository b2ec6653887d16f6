"""Fault injection, switchable per run and at runtime (the reliability tests' tools).

Rates apply to every `/v1` request at random (seeded); scheduled faults hit the next requests
matching a method and path, which is what tests use to be deterministic. Kinds:

- `error`: a 5xx answer (JSON or an HTML maintenance page) without processing the request;
- `timeout`: the server stalls for `timeout_seconds`, then processes the request anyway;
- `drop`: the request is processed (an order is really placed), then the connection is closed
  without a usable answer;
- `malformed`: the request is processed, then the JSON body is cut short.
Latency is added to every `/v1` answer.
"""

from __future__ import annotations

import random
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal["error", "timeout", "drop", "malformed"]
ORDER_PATH = "/v1/orders"


class FaultSettings(BaseModel):
    """Random faults for a whole run; all off by default."""

    model_config = ConfigDict(extra="forbid")

    latency_seconds: float = Field(default=0.0, ge=0, le=60)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    drop_order_rate: float = Field(default=0.0, ge=0, le=1, description="share of POST /v1/orders dropped")
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
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
        """The fault for this request, consuming a scheduled one first."""
        with self._lock:
            for fault in self._scheduled:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count == 0:
                        self._scheduled.remove(fault)
                    return fault.kind
            return self._random_fault(method, path)

    def _random_fault(self, method: str, path: str) -> FaultKind | None:
        settings = self._settings
        chances: list[tuple[FaultKind, float]] = [
            ("error", settings.error_rate),
            ("timeout", settings.timeout_rate),
            ("malformed", settings.malformed_rate),
        ]
        if method == "POST" and path == ORDER_PATH:
            chances.append(("drop", settings.drop_order_rate))
        for kind, rate in chances:
            if rate > 0 and self._random.random() < rate:
                return kind
        return None

    def pick_error_page(self) -> bool:
        """True for an HTML maintenance page, False for a JSON 500 (alternating at random)."""
        with self._lock:
            return self._random.random() < 0.5
