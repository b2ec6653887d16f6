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


def make_session(
    handler: Handler, clock: FakeClock | None = None, *, attempts: int = 3
) -> UpbitSession:
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
