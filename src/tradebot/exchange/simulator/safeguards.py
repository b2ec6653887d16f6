"""Upbit's market safeguards and key limits as the simulator keeps them (upbit-api.md §2.2, §6.2).

A market carries its `market_event` flags (`warning`: 유의 종목, `caution`: the five 주의 flags) and
whether trading in it is suspended (orders refused with `market_offline`; quotations still answer).
A delisted market leaves `SimulatedExchange.markets` altogether, so its quotations answer 404 like
any unknown code. An account's key may have an expiry (401 `expired_access_key` from then on) and
an allow-list of IP addresses (401 `no_authorization_ip` from any other address).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tradebot.core.safeguards import CAUTION_FLAGS
from tradebot.exchange.simulator.errors import ApiError, auth_error

SUSPENDED_MESSAGE = "거래가 일시 중지된 마켓입니다."
EXPIRED_KEY_MESSAGE = "만료된 API 키입니다."
NO_AUTHORIZATION_IP_MESSAGE = "허용되지 않은 IP 주소입니다."
# A key without a set expiry never expires here; `/v1/api_keys` still shows a date, as Upbit always
# does: one year after the moment asked (keys are valid one year), so it never comes closer.
UNSET_EXPIRY = timedelta(days=365)


@dataclass(slots=True)
class MarketFlags:
    """A market's `market_event` flags and whether its trading is suspended."""

    warning: bool = False
    caution: set[str] = field(default_factory=set)
    suspended: bool = False

    def event_document(self) -> dict[str, object]:
        """The `market_event` object of `/v1/market/all?is_details=true`."""
        return {"warning": self.warning, "caution": {flag: flag in self.caution for flag in CAUTION_FLAGS}}


def suspended_error() -> ApiError:
    """An order in a market whose trading is suspended (403 `market_offline`)."""
    return ApiError(403, "market_offline", SUSPENDED_MESSAGE)


@dataclass(slots=True)
class KeyLimits:
    """When a key expires (None: never) and the addresses it may be used from (None: any)."""

    expire_at: datetime | None = None
    allowed_ips: frozenset[str] | None = None

    def check(self, client_ip: str | None, now: datetime) -> None:
        """Raise Upbit's 401 for an expired key or a request from an address not allowed."""
        if self.expire_at is not None and now >= self.expire_at:
            raise auth_error("expired_access_key", EXPIRED_KEY_MESSAGE)
        if self.allowed_ips is not None and client_ip not in self.allowed_ips:
            raise auth_error("no_authorization_ip", NO_AUTHORIZATION_IP_MESSAGE)

    def shown_expiry(self, now: datetime) -> datetime:
        """The `expire_at` `/v1/api_keys` shows."""
        return self.expire_at if self.expire_at is not None else now + UNSET_EXPIRY
