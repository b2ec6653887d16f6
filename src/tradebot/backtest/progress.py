"""A one-line progress bar on stderr, shown only on a terminal and only for long runs."""

from __future__ import annotations

import sys
import time
from typing import TextIO

MINIMUM_CANDLES = 100_000
BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


class ProgressBar:
    """Redraws `stage [#####.....] 42%` in place; silent when disabled."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._stage = ""
        self._last_draw = 0.0

    @classmethod
    def for_run(cls, candles: int, stream: TextIO | None = None) -> ProgressBar:
        """Enabled when the stream is a terminal and the run is long enough to wait for."""
        target = stream or sys.stderr
        return cls(target.isatty() and candles >= MINIMUM_CANDLES, target)

    def stage(self, name: str) -> None:
        """Start a new stage at 0%."""
        self._stage = name
        self.update(0, 1, force=True)

    def update(self, done: int, total: int, force: bool = False) -> None:
        """Show `done / total` of the current stage (throttled)."""
        if not self._enabled:
            return
        now = time.monotonic()  # display throttling only; no decision depends on it
        if not force and now - self._last_draw < REDRAW_SECONDS:
            return
        self._last_draw = now
        share = min(max(done / total, 0.0), 1.0) if total else 1.0
        filled = int(share * BAR_WIDTH)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self._stream.write(f"\r{self._stage:<12} [{bar}] {share:4.0%}")
        self._stream.flush()

    def finish(self) -> None:
        """Clear the bar's line."""
        if self._enabled:
            self._stream.write("\r" + " " * (BAR_WIDTH + 20) + "\r")
            self._stream.flush()
