"""A LIVE user's Upbit API key: when it expires, and the rejections that park the user.

Upbit keys are valid one year and cannot be extended. `KeyHealth` reads `GET /v1/api_keys` when
the user's LIVE trading starts and then once a day, and warns 14, 7 and 1 day before the key
expires: each warning once (the tightest one reached, so a key found with 3 days left warns once,
not three times). A key Upbit refuses with `expired_access_key`, `no_authorization_ip`,
`out_of_scope` or `jwt_verification` will not heal by retrying: `parking_reason` says why in plain
words and the runner parks the user with it until the keys are fixed and the user started again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tradebot.core.clock import Clock
from tradebot.exchange.upbit import ApiKey, UpbitAuthError

WARNING_DAYS = (14, 7, 1)
CHECK_SECONDS = 86_400.0
RETRY_SECONDS = 3_600.0  # the read failed for another reason: try again within the hour
FIX = "then start the user again"
PARKING_REASONS: dict[str, str] = {
    "expired_access_key": (
        "the API key has expired (Upbit keys are valid one year and cannot be extended): create a new "
        f"key on Upbit, store it with `tradebot user set-keys`, {FIX}"
    ),
    "no_authorization_ip": (
        "this server's IP is not in the key's allowed list: add this server's IP address to the key "
        f"on Upbit (or store a key that allows it with `tradebot user set-keys`), {FIX}"
    ),
    "out_of_scope": (
        "the key lacks a permission the bot needs (view balances, place orders): give the key those "
        f"permissions on Upbit or store one that has them with `tradebot user set-keys`, {FIX}"
    ),
    "jwt_verification": (
        "Upbit could not verify the request's signature: the stored secret key does not belong to "
        f"the access key; store the pair again with `tradebot user set-keys`, {FIX}"
    ),
}
PARKING_REASONS["no_authorization_i_p"] = PARKING_REASONS["no_authorization_ip"]  # the old spelling

# (the user's access key, the account's keys), or None when the user has no key stored
KeyReader = Callable[[], tuple[str, list[ApiKey]] | None]


def parking_reason(error: BaseException) -> str | None:
    """The plain-words reason to park a LIVE user for this rejection, None if it is not one."""
    if not isinstance(error, UpbitAuthError) or not isinstance(error.name, str):
        return None
    reason = PARKING_REASONS.get(error.name)
    return None if reason is None else f"LIVE API key rejected by Upbit ({error.name}): {reason}"


class KeyHealth:
    """When the user's key expires, and which expiry warning was already given."""

    def __init__(self, read: KeyReader, clock: Clock, alert: Callable[[str], None]) -> None:
        self._read, self._clock, self._alert = read, clock, alert
        self._next_check = float("-inf")
        self._warned: set[int] = set()  # the WARNING_DAYS already announced
        self.expires_at: datetime | None = None
        self.problem: str | None = None  # the last read failed (shown in health)

    def due(self) -> bool:
        """True when the key should be read again (at the first LIVE tick, then daily)."""
        return self._clock.monotonic() >= self._next_check

    def check(self) -> None:
        """Read the key's expiry and warn if a threshold was reached; raises a parking rejection."""
        try:
            answer = self._read()
        except Exception as error:  # unreadable keys, the exchange down...: retried, never a crash
            if parking_reason(error) is not None:
                raise
            self._next_check = self._clock.monotonic() + RETRY_SECONDS
            self.problem = f"API key expiry not read: {error}"
            return
        self._next_check = self._clock.monotonic() + CHECK_SECONDS
        if answer is None:
            self.problem, self.expires_at = "no Upbit API key stored: its expiry is unknown", None
            return
        access_key, keys = answer
        own = [key for key in keys if key.access_key == access_key]
        self.problem = None if own else "Upbit did not list this API key: its expiry is unknown"
        self.expires_at = own[0].expire_at if own else None
        self._warn()

    def _warn(self) -> None:
        if self.expires_at is None:
            return
        left = self.expires_at - self._clock.now()
        reached = [days for days in WARNING_DAYS if left <= timedelta(days=days)]
        if not reached or min(reached) in self._warned:
            return
        self._warned.update(reached)  # the wider warnings are past: never sent after a tighter one
        when = self.expires_at.isoformat(timespec="minutes")
        self._alert(
            f"LIVE API key expires in {_left_text(left)} (on {when}); Upbit keys cannot be extended: "
            "create a new key on Upbit and store it with `tradebot user set-keys` before then"
        )


def _left_text(left: timedelta) -> str:
    if left <= timedelta(0):
        return "no time: it has expired"
    hours = left.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours < 48 else f"{left.days} days"
