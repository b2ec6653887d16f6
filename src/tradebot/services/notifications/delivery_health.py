"""The delivery health of a user's notifications, as the engine's notifier reports it.

Plain values (no engine types), so `tradebot health`, `health.json` and the dashboard can read
them; error texts come from `channels` and never carry a token or webhook URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """One channel's last success and last error (texts are secret-free)."""

    name: str
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None

    @property
    def failing(self) -> bool:
        """True when the latest outcome was an error."""
        if self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at


@dataclass(frozen=True, slots=True)
class NotifierHealth:
    """The delivery health of one user's notifications, for `tradebot health` and the dashboard."""

    channels: tuple[ChannelHealth, ...]
    backlog: int  # unsent rows at the last round (due now or waiting for a retry)
    dead: int  # rows this process gave up on
    checked_at: datetime | None

    def problems(self) -> list[str]:
        """One line per failing channel, e.g. for the health report's alerts."""
        return [
            f"notification channel {channel.name} failing since {channel.last_error_at:%Y-%m-%d %H:%M} UTC: "
            f"{channel.last_error} ({self.backlog} waiting)"
            for channel in self.channels
            if channel.failing and channel.last_error_at is not None
        ]
