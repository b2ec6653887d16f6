"""JWT verification as Upbit does it (upbit-api.md §4, §11.4).

`Authorization: Bearer <JWT>` signed with HS256 or HS512 using the raw secret; `access_key` must
be known, `nonce` never seen before, and `query_hash` (SHA-512 hex) must match the parameters
whenever there are any, and be absent when there are none.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime

from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidTokenError

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import ApiError, auth_error
from tradebot.exchange.simulator.params import RequestParams

ACCEPTED_ALGORITHMS = ("HS256", "HS512")
JWT_VERIFICATION_MESSAGE = "Jwt 토큰 검증에 실패했습니다."
QUERY_PAYLOAD_MESSAGE = "Jwt의 query를 검증하는데 실패하였습니다."


class _Hmac(HMACAlgorithm):
    def check_key_length(self, key: bytes) -> str | None:
        # Upbit's secrets are 40 characters; PyJWT would warn about HS512 on every request.
        return None


def _verifier() -> PyJWS:
    verifier = PyJWS(algorithms=[])
    verifier.register_algorithm("HS256", _Hmac(HMACAlgorithm.SHA256))
    verifier.register_algorithm("HS512", _Hmac(HMACAlgorithm.SHA512))
    return verifier


_JWS = _verifier()


def _jwt_error() -> ApiError:
    return auth_error("jwt_verification", JWT_VERIFICATION_MESSAGE)


def _query_error() -> ApiError:
    return auth_error("invalid_query_payload", QUERY_PAYLOAD_MESSAGE)


def peek_access_key(authorization: str | None) -> str | None:
    """The token's `access_key` without verifying anything (to pick a rate-limit pocket)."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    segments = authorization.removeprefix("Bearer ").strip().split(".")
    if len(segments) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(segments[1] + "=" * (-len(segments[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    key = claims.get("access_key") if isinstance(claims, dict) else None
    return key if isinstance(key, str) else None


def authenticate(
    authorization: str | None,
    params: RequestParams,
    accounts: Mapping[str, SimAccount],
    *,
    client_ip: str | None = None,
    now: datetime | None = None,
) -> SimAccount:
    """The account the request's JWT proves, or the 401 Upbit would answer with.

    With `now`, the key's limits are checked too: expired at `now`, or `client_ip` not allowed.
    """
    if not authorization or not authorization.strip():
        raise auth_error("no_authorization_token", "Please check Authorization Header")
    if not authorization.startswith("Bearer "):
        raise _jwt_error()
    token = authorization.removeprefix("Bearer ").strip()
    algorithm, claims = _unverified(token)
    access_key = claims.get("access_key")
    if not isinstance(access_key, str) or not access_key:
        raise _jwt_error()
    account = accounts.get(access_key)
    if account is None:
        raise auth_error("invalid_access_key", "잘못된 엑세스 키입니다.")
    try:
        _JWS.decode_complete(token, key=account.secret_key, algorithms=[algorithm])
    except InvalidTokenError:
        raise _jwt_error() from None
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        raise _jwt_error()
    _check_query_hash(claims, params)
    if now is not None:
        account.limits.check(client_ip, now)
    if not account.use_nonce(nonce):
        raise auth_error("nonce_used", "이미 요청한 nonce값이 다시 사용되었습니다.")
    return account


def _unverified(token: str) -> tuple[str, dict[str, object]]:
    try:
        algorithm = _JWS.get_unverified_header(token).get("alg")
        payload = _JWS.decode_complete(token, options={"verify_signature": False})["payload"]
        claims = json.loads(payload)
    except (InvalidTokenError, ValueError, TypeError):
        raise _jwt_error() from None
    if algorithm not in ACCEPTED_ALGORITHMS or not isinstance(claims, dict):
        raise _jwt_error()
    return str(algorithm), claims


def _check_query_hash(claims: dict[str, object], params: RequestParams) -> None:
    claimed = claims.get("query_hash")
    if not params:
        if claimed is not None:
            raise _query_error()
        return
    if not isinstance(claimed, str) or claims.get("query_hash_alg", "SHA512") != "SHA512":
        raise _query_error()
    for candidate in params.hash_candidates:
        expected = hashlib.sha512(candidate.encode("utf-8")).hexdigest()
        if hmac.compare_digest(expected, claimed.lower()):
            return
    raise _query_error()
