"""Fault injection for the WebSocket streams (the feed's reliability tests' tools).

Per outgoing message, at random (seeded rates) or for the next `count` messages (scheduled):
- `duplicate`: the message is sent twice;
- `reorder`: the message is held back and sent right after the next one;
- `malformed`: the frame carries the first half of the message's JSON, which does not parse.
Dropping and stalling connections are actions on the open connections (`stream_hub`). Every
injected fault is counted by kind.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StreamFaultKind = Literal["duplicate", "reorder", "malformed"]
STREAM_FAULT_KINDS: tuple[StreamFaultKind, ...] = ("malformed", "reorder", "duplicate")


class StreamFaultSettings(BaseModel):
    """Random message faults for the rest of the run; all off by default."""

    model_config = ConfigDict(extra="forbid")

    duplicate_rate: float = Field(default=0.0, ge=0, le=1, description="share of messages sent twice")
    reorder_rate: float = Field(default=0.0, ge=0, le=1, description="share of messages sent after the next")
    malformed_rate: float = Field(default=0.0, ge=0, le=1, description="share of messages cut in half")
    seed: int | None = None


class ScheduledStreamFault(BaseModel):
    """A fault for the next `count` messages on connections to `path` (None: either endpoint)."""

    model_config = ConfigDict(extra="forbid")

    kind: StreamFaultKind
    path: Literal["/websocket/v1", "/websocket/v1/private"] | None = None
    count: int = Field(default=1, ge=1, le=1_000_000)


class StreamFaults:
    """Decides which fault, if any, hits an outgoing message, and counts them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scheduled: list[ScheduledStreamFault] = []
        self._counts: Counter[str] = Counter()
        self.configure(StreamFaultSettings())

    def configure(self, settings: StreamFaultSettings) -> None:
        """Use these random rates from now on."""
        with self._lock:
            self.settings = settings
            self._random = random.Random(settings.seed)  # noqa: S311 - fault dice, not secrets

    def schedule(self, fault: ScheduledStreamFault) -> None:
        """Hit the next `fault.count` matching messages."""
        with self._lock:
            self._scheduled.append(fault)

    def reset(self) -> None:
        """No random or scheduled faults any more (counts stay)."""
        with self._lock:
            self._scheduled.clear()
        self.configure(StreamFaultSettings())

    def choose(self, path: str) -> StreamFaultKind | None:
        """The fault for one message sent on a connection to `path`."""
        with self._lock:
            for position, fault in enumerate(self._scheduled):
                if fault.path is None or fault.path == path:
                    if fault.count == 1:
                        del self._scheduled[position]
                    else:
                        self._scheduled[position] = fault.model_copy(update={"count": fault.count - 1})
                    self._counts[fault.kind] += 1
                    return fault.kind
            roll = self._random.random()
            for kind in STREAM_FAULT_KINDS:
                rate = getattr(self.settings, f"{kind}_rate")
                if roll < rate:
                    self._counts[kind] += 1
                    return kind
                roll -= rate
            return None

    def count(self, kind: str, amount: int = 1) -> None:
        """Count an action taken on connections (`drop`, `stall`)."""
        with self._lock:
            self._counts[kind] += amount

    def counts(self) -> dict[str, int]:
        """Injected faults by kind."""
        with self._lock:
            return dict(self._counts)

    def scheduled(self) -> list[ScheduledStreamFault]:
        """The scheduled faults still waiting."""
        with self._lock:
            return list(self._scheduled)
