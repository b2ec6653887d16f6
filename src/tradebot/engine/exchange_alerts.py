"""The runner's exchange ALERTs: unreachable for more than N cycles, and a LIVE key rejected.

A short outage is routine (the loop retries every cycle and the status row shows it), so only an
outage longer than `cycles` failed cycles in a row is an ALERT: once when it passes that count,
and once when the exchange answers again. A rejected key (401, `invalid_access_key`, an IP not
on the key's allow-list...) will not heal by itself: it is an ALERT the first time it is seen in
LIVE, and again only after a cycle has succeeded since. Each ALERT goes through the runner's
`alert`, which writes the notification in its own transaction and never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tradebot.exchange.upbit import UpbitAuthError, UpbitError
from tradebot.services.records import Mode

DEFAULT_UNREACHABLE_CYCLES = 3


class ExchangeAlerts:
    """Counts failed cycles and remembers which ALERT was sent, so each is sent once."""

    def __init__(self, alert: Callable[[str], None], cycles: int = DEFAULT_UNREACHABLE_CYCLES) -> None:
        self._alert, self._cycles = alert, cycles
        self.failed_cycles = 0  # exchange failures in a row, other than a rejected key
        self.down_alerted = False
        self.key_alerted = False

    def failed(self, error: UpbitError, mode: Mode, since: datetime) -> None:
        """One cycle (or loop start) failed on the exchange with `error`."""
        if isinstance(error, UpbitAuthError):
            self.key_rejected(error, mode)
            return
        self.failed_cycles += 1
        if self.failed_cycles > self._cycles and not self.down_alerted:
            self.down_alerted = True
            self._alert(
                f"exchange unreachable for {self.failed_cycles} cycles in a row since "
                f"{since.isoformat(timespec='seconds')}: {error}; trading waits, retried every cycle"
            )

    def key_rejected(self, error: Exception, mode: Mode) -> None:
        """A crash or failed cycle: an ALERT if it is the exchange refusing the LIVE key."""
        if not isinstance(error, UpbitAuthError) or mode != "LIVE" or self.key_alerted:
            return
        self.key_alerted = True
        self._alert(
            f"LIVE API key rejected by Upbit: {error}; no LIVE order can be sent until the key, its "
            "permissions or its allowed IP addresses are fixed (`tradebot user set-keys`)"
        )

    def recovered(self) -> None:
        """A cycle succeeded: say so if the outage was announced, and re-arm both ALERTs."""
        if self.down_alerted:
            self._alert(f"exchange answering again after {self.failed_cycles} failed cycles: trading resumed")
        self.failed_cycles, self.down_alerted, self.key_alerted = 0, False, False
