"""Upbit JWT authentication (upbit-api.md §4).

Each request gets a token with `access_key`, a fresh uuid4 `nonce` and, when the request has
parameters, `query_hash` = SHA-512 hex of the parameters rendered as an unescaped query string in
sending order, plus `query_hash_alg` = "SHA512". The client renders the query string once and sends
exactly those bytes, so the hash always covers what goes on the wire.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS

# Characters that need no percent-encoding in a query component: what we hash is then byte for
# byte what we send, and Upbit's unescaped hash (§4.2 step 3) is the same string.
_SAFE_QUERY_TEXT = re.compile(r"^[A-Za-z0-9\-._~:,\[\]]*$")
REDACTED = "[redacted]"

SigningAlgorithm = Literal["HS512", "HS256"]
QueryPairs = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Credentials:
    """An Upbit API key pair. The secret never shows in `repr`."""

    access_key: str
    secret_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise ValueError("Upbit access key and secret key must both be non-empty")

    def redact(self, text: str) -> str:
        """`text` with the secret key replaced, for anything that may be shown or logged."""
        return text.replace(self.secret_key, REDACTED)


def render_query(pairs: QueryPairs) -> str:
    """`k1=v1&k2=v2` in the given order; refuses text that would need percent-encoding."""
    for key, value in pairs:
        if not _SAFE_QUERY_TEXT.match(key) or not _SAFE_QUERY_TEXT.match(value):
            raise ValueError(f"unsupported characters in request parameter {key}={value!r}")
    return "&".join(f"{key}={value}" for key, value in pairs)


def query_hash(query: str) -> str:
    """SHA-512 hex digest of the query string, as Upbit verifies it."""
    return hashlib.sha512(query.encode("utf-8")).hexdigest()


class _UpbitHmac(HMACAlgorithm):
    """PyJWT's HMAC signing, minus its key-length warning."""

    def check_key_length(self, key: bytes) -> str | None:
        # RFC 7518 wants a 64-byte key for HS512 and PyJWT warns on every token signed with a
        # shorter one. Upbit issues the (40-character) keys and verifies the tokens, so the
        # warning could only ever be noise, once per request.
        return None


def _upbit_jws() -> PyJWS:
    # A private instance: PyJWT's module-level signer and other users of it stay untouched.
    signer = PyJWS(algorithms=[])
    signer.register_algorithm("HS256", _UpbitHmac(HMACAlgorithm.SHA256))
    signer.register_algorithm("HS512", _UpbitHmac(HMACAlgorithm.SHA512))
    return signer


_JWS = _upbit_jws()


def _new_nonce() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Signer:
    """Builds the `Authorization` header value for one request."""

    credentials: Credentials
    algorithm: SigningAlgorithm = "HS512"
    nonce_factory: Callable[[], str] = _new_nonce

    def token(self, query: str) -> str:
        """A fresh JWT for a request whose parameters render to `query` ("" when none)."""
        payload: dict[str, str] = {
            "access_key": self.credentials.access_key,
            "nonce": self.nonce_factory(),
        }
        if query:
            payload["query_hash"] = query_hash(query)
            payload["query_hash_alg"] = "SHA512"
        claims = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return _JWS.encode(claims, self.credentials.secret_key, algorithm=self.algorithm)

    def authorization(self, query: str) -> str:
        """`Bearer <JWT>` for a request whose parameters render to `query`."""
        return f"Bearer {self.token(query)}"
