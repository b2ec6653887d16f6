"""The simulator's JWT checks (upbit-api.md §4): algorithms, keys, nonces and query_hash."""

from __future__ import annotations

import pytest

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.auth import authenticate, peek_access_key
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.params import EMPTY, from_json, from_query
from tradebot.exchange.upbit import Credentials, Signer

ACCESS_KEY = "unit-access-key"
SECRET_KEY = "unit0secret0key0for0tests0only0000000000"  # noqa: S105 - a fake key for a fake server
ACCOUNTS = {ACCESS_KEY: SimAccount.funded(ACCESS_KEY, SECRET_KEY, {})}


def signer(**options: object) -> Signer:
    return Signer(Credentials(ACCESS_KEY, SECRET_KEY), **options)  # type: ignore[arg-type]


def refusal(authorization: str | None, params: object = EMPTY) -> object:
    with pytest.raises(ApiError) as refused:
        authenticate(authorization, params, ACCOUNTS)  # type: ignore[arg-type]
    assert refused.value.status == 401
    return refused.value.name


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_accepts_both_algorithms_and_checks_the_query_hash(algorithm: str) -> None:
    query = "market=KRW-BTC&states[]=wait"
    account = authenticate(signer(algorithm=algorithm).authorization(query), from_query(query), ACCOUNTS)
    assert account.access_key == ACCESS_KEY
    assert refusal(signer(algorithm=algorithm).authorization(query), from_query("market=KRW-ETH")) == (
        "invalid_query_payload"
    )


def test_hash_of_the_escaped_or_unescaped_query_both_match() -> None:
    raw = "uuids%5B%5D=a&uuids%5B%5D=b"
    for hashed in ("uuids[]=a&uuids[]=b", raw):
        authenticate(signer().authorization(hashed), from_query(raw), ACCOUNTS)


def test_json_body_is_hashed_in_document_order() -> None:
    body = b'{"market":"KRW-BTC","side":"bid","price":10000,"ord_type":"price"}'
    hashed = "market=KRW-BTC&side=bid&price=10000&ord_type=price"
    authenticate(signer().authorization(hashed), from_json(body), ACCOUNTS)
    assert refusal(
        signer().authorization("side=bid&market=KRW-BTC&price=10000&ord_type=price"), from_json(body)
    ) == ("invalid_query_payload")


def test_nonce_can_be_used_once() -> None:
    fixed = signer(nonce_factory=lambda: "unit-nonce")
    authenticate(fixed.authorization(""), EMPTY, ACCOUNTS)
    assert refusal(fixed.authorization(""), EMPTY) == "nonce_used"


def test_missing_unknown_and_forged_tokens() -> None:
    assert refusal(None) == "no_authorization_token"
    assert refusal("Bearer x.y.z") == "jwt_verification"
    other = Signer(Credentials("someone-else", SECRET_KEY))
    assert refusal(other.authorization("")) == "invalid_access_key"
    forged = Signer(Credentials(ACCESS_KEY, "not-the-secret"))
    assert refusal(forged.authorization("")) == "jwt_verification"
    assert refusal(signer().authorization("a=1"), EMPTY) == "invalid_query_payload"


def test_peek_reads_the_access_key_without_verifying() -> None:
    assert peek_access_key(signer().authorization("")) == ACCESS_KEY
    assert peek_access_key("Bearer garbage") is None
    assert peek_access_key(None) is None


def test_key_limits_expired_key_and_address_not_allowed_refused_after_signature() -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415 - only these tests need time

    from tradebot.exchange.simulator.safeguards import KeyLimits  # noqa: PLC0415

    now = datetime(2026, 3, 22, tzinfo=UTC)
    account = SimAccount.funded(ACCESS_KEY, SECRET_KEY, {})
    account.limits = KeyLimits(expire_at=now + timedelta(days=1), allowed_ips=frozenset({"10.0.0.1"}))
    accounts = {ACCESS_KEY: account}
    assert authenticate(signer().authorization(""), EMPTY, accounts, client_ip="10.0.0.1", now=now) is account
    for client_ip, moment, name in (
        ("10.0.0.2", now, "no_authorization_ip"),
        ("10.0.0.1", now + timedelta(days=1), "expired_access_key"),
    ):
        with pytest.raises(ApiError) as refused:
            authenticate(signer().authorization(""), EMPTY, accounts, client_ip=client_ip, now=moment)
        assert (refused.value.status, refused.value.name) == (401, name)
    forged = Signer(Credentials(ACCESS_KEY, "x" * 40)).authorization("")
    with pytest.raises(ApiError) as refused:
        authenticate(forged, EMPTY, accounts, client_ip="10.0.0.2", now=now + timedelta(days=2))
    assert refused.value.name == "jwt_verification"  # a forged token learns nothing about the key
