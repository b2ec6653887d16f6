"""Unit tests of the Upbit client, plus the small fakes they share.

Every test talks to an `httpx.MockTransport` handler that answers with the exact bodies, headers
and status codes recorded in upbit-api.md, and waits on a `FakeClock`, so nothing touches the
network or really sleeps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx

from tradebot.exchange.upbit import Credentials, RateLimitRegistry, UpbitSession

ACCESS_KEY = "test-access-key"
# 40 characters, like Upbit's keys; a fake key for the fake server.
SECRET_KEY = "fake0secret0key0for0tests0only0000000000"  # noqa: S105
CREDENTIALS = Credentials(ACCESS_KEY, SECRET_KEY)
BASE_URL = "http://127.0.0.1:18080"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    """Monotonic time that only moves when something sleeps on it; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.seconds = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return datetime(2026, 3, 22, tzinfo=UTC) + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.seconds += seconds


def make_session(handler: Handler, clock: FakeClock | None = None, *, attempts: int = 3) -> UpbitSession:
    """A session on a mock transport with its own rate-limit registry on a fake clock."""
    return UpbitSession(
        base_url=BASE_URL,
        transport=httpx.MockTransport(handler),
        rate_limits=RateLimitRegistry(clock if clock is not None else FakeClock()),
        attempts=attempts,
    )


def upbit_response(
    status: int,
    body: str,
    *,
    group: str | None = "default",
    remaining: int = 29,
    content_type: str = "application/json;charset=UTF-8",
) -> httpx.Response:
    """A response shaped like Upbit's: raw body bytes plus `Remaining-Req`."""
    headers = {"Content-Type": content_type}
    if group is not None:
        headers["Remaining-Req"] = f"group={group}; min=1800; sec={remaining}"
    return httpx.Response(status, content=body.encode("utf-8"), headers=headers)


def _unbase64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def decode_jwt(token: str, algorithm: str = "HS512") -> dict[str, Any]:
    """Claims of a token after checking its HMAC with the secret, independently of PyJWT."""
    header_segment, claims_segment, signature_segment = token.split(".")
    assert json.loads(_unbase64url(header_segment)) == {"alg": algorithm, "typ": "JWT"}
    digest = hashlib.sha512 if algorithm == "HS512" else hashlib.sha256
    signed = f"{header_segment}.{claims_segment}".encode()
    expected = hmac.new(SECRET_KEY.encode(), signed, digest).digest()
    assert hmac.compare_digest(expected, _unbase64url(signature_segment))
    claims: dict[str, Any] = json.loads(_unbase64url(claims_segment))
    return claims


def verify_jwt(request: httpx.Request) -> dict[str, Any]:
    """What the fake server checks (§4.2): signature, claims and query_hash of the raw request."""
    authorization = request.headers["Authorization"]
    assert authorization.startswith("Bearer ")
    claims = decode_jwt(authorization.removeprefix("Bearer "))
    assert claims["access_key"] == ACCESS_KEY
    if request.method == "POST":
        document = json.loads(request.content)
        hashed = "&".join(f"{key}={value}" for key, value in document.items())
    else:
        hashed = unquote(request.url.query.decode("ascii"))
    if hashed:
        assert claims["query_hash_alg"] == "SHA512"
        assert claims["query_hash"] == hashlib.sha512(hashed.encode()).hexdigest()
    else:
        assert "query_hash" not in claims
    return claims


# Recorded Upbit bodies (upbit-api.md §2.4 and §3.5), byte for byte.
TICKER = (
    '[{"market":"KRW-BTC","trade_date":"20260311","trade_time":"144058","trade_date_kst":"20260311",'
    '"trade_time_kst":"234058","trade_timestamp":1773240058930,"opening_price":102417000.0,'
    '"high_price":103988000.0,"low_price":101150000.0,"trade_price":103493000.0,'
    '"prev_closing_price":102417000.0,"change":"RISE","change_price":1076000.0,'
    '"change_rate":0.0105060683,"signed_change_price":1076000.0,"signed_change_rate":0.0105060683,'
    '"trade_volume":0.00094678,"acc_trade_price":104890185475.22821,'
    '"acc_trade_price_24h":162997300132.123,"acc_trade_volume":1024.30599241,'
    '"acc_trade_volume_24h":1587.73606087,"highest_52_week_price":179869000.0,'
    '"highest_52_week_date":"2025-10-09","lowest_52_week_price":89000000.0,'
    '"lowest_52_week_date":"2026-02-06","timestamp":1773240058973}]'
)
LIMIT_BID_CREATED = (
    '{"uuid":"82fe9b72-eb0f-462b-8e0e-e74ad844acea","side":"bid","ord_type":"limit",'
    '"price":"10000000","state":"wait","market":"KRW-BTC","created_at":"2026-03-22T21:42:22+09:00",'
    '"volume":"0.0005","remaining_volume":"0.0005","prevented_volume":"0","reserved_fee":"2.5",'
    '"remaining_fee":"2.5","paid_fee":"0","locked":"5002.5","prevented_locked":"0",'
    '"executed_volume":"0","trades_count":0}'
)
MARKET_BUY_CREATED = (
    '{"uuid":"fce8ffa4-...","side":"bid","ord_type":"price","price":"10000","state":"wait",'
    '"market":"KRW-BTC","created_at":"2026-03-22T21:47:08+09:00","reserved_fee":"5",'
    '"remaining_fee":"5","paid_fee":"0","locked":"10005","prevented_locked":"0",'
    '"executed_volume":"0","trades_count":0}'
)
MARKET_BUY_FINAL = (
    '{"uuid":"fce8ffa4-...","side":"bid","ord_type":"price","price":"10000","state":"cancel",'
    '"market":"KRW-BTC","created_at":"2026-03-22T21:47:08+09:00","reserved_fee":"5",'
    '"remaining_fee":"0.000476075","paid_fee":"4.999523925","locked":"0.952626075",'
    '"prevented_locked":"0","executed_volume":"0.00009713","trades_count":1,'
    '"trades":[{"market":"KRW-BTC","uuid":"7dd003ce-...","price":"102945000",'
    '"volume":"0.00009713","funds":"9999.04785","trend":"up",'
    '"created_at":"2026-03-22T21:47:08+09:00","side":"bid"}]}'
)
MARKET_SELL_FINAL = (
    '{"uuid":"72091b0f-...","side":"ask","ord_type":"market","state":"done","market":"KRW-BTC",'
    '"created_at":"2026-03-22T21:47:09+09:00","volume":"0.00009713","remaining_volume":"0",'
    '"prevented_volume":"0","reserved_fee":"0","remaining_fee":"0","paid_fee":"4.99743563",'
    '"locked":"0","prevented_locked":"0","executed_volume":"0.00009713","trades_count":1,'
    '"trades":[{"market":"KRW-BTC","uuid":"5990f027-...","price":"102902000",'
    '"volume":"0.00009713","funds":"9994.87126","trend":"down",'
    '"created_at":"2026-03-22T21:47:09+09:00","side":"ask"}]}'
)
