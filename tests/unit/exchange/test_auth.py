"""JWT claims and query_hash (upbit-api.md §4)."""

from __future__ import annotations

import hashlib
import warnings

import pytest

from tradebot.exchange.upbit import Credentials, Signer
from tradebot.exchange.upbit.auth import render_query

from . import ACCESS_KEY, CREDENTIALS, SECRET_KEY, decode_jwt


def test_token_with_query_hashes_the_unescaped_query_string() -> None:
    query = render_query([("uuids[]", "a"), ("uuids[]", "b")])
    token = Signer(CREDENTIALS, nonce_factory=lambda: "nonce-1").token(query)

    claims = decode_jwt(token)

    assert query == "uuids[]=a&uuids[]=b"
    assert claims == {
        "access_key": ACCESS_KEY,
        "nonce": "nonce-1",
        "query_hash": hashlib.sha512(b"uuids[]=a&uuids[]=b").hexdigest(),
        "query_hash_alg": "SHA512",
    }


def test_token_without_parameters_has_no_query_hash() -> None:
    claims = decode_jwt(Signer(CREDENTIALS).token(""))

    assert set(claims) == {"access_key", "nonce"}


def test_token_each_call_uses_a_fresh_nonce() -> None:
    signer = Signer(CREDENTIALS)

    nonces = {decode_jwt(signer.token("a=1"))["nonce"] for _ in range(5)}

    assert len(nonces) == 5


def test_token_hs256_option_signs_with_hs256() -> None:
    token = Signer(CREDENTIALS, algorithm="HS256").token("")

    assert decode_jwt(token, "HS256")["access_key"] == ACCESS_KEY


def test_token_upbit_length_secret_signs_without_key_length_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Signer(CREDENTIALS).token("a=1")


def test_render_query_text_needing_escapes_raises_value_error() -> None:
    with pytest.raises(ValueError, match="unsupported characters"):
        render_query([("to", "2026-03-22T21:42:22+09:00")])


def test_credentials_repr_hides_the_secret() -> None:
    assert SECRET_KEY not in repr(CREDENTIALS)
    assert SECRET_KEY not in repr(Signer(CREDENTIALS))


def test_credentials_empty_secret_raises_value_error() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Credentials(ACCESS_KEY, "")
