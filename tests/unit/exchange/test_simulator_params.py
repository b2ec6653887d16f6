"""Request parameters from query strings, form bodies and JSON bodies (§4.2, §9, §11.3)."""

from __future__ import annotations

import pytest

from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.params import from_body, from_json, from_query


def test_query_arrays_repeats_and_plus() -> None:
    params = from_query(
        "markets=KRW-BTC&markets=KRW-ETH,KRW-XRP&uuids%5B%5D=a&uuids%5B%5D=b&to=2026-03-22+12%3A40%3A00"
    )
    assert params.list_values("markets") == ["KRW-BTC", "KRW-ETH", "KRW-XRP"]
    assert params.values("uuids") == ["a", "b"]
    assert params.first("to") == "2026-03-22 12:40:00"
    assert "uuids[]=a&uuids[]=b" in "".join(params.hash_candidates)


def test_json_keeps_order_and_literal_numbers() -> None:
    params = from_json(b'{"market":"KRW-BTC","volume":0.00010,"flag":true,"gone":null,"ids":["x","y"]}')
    assert params.pairs == (
        ("market", "KRW-BTC"),
        ("volume", "0.00010"),
        ("flag", "true"),
        ("ids[]", "x"),
        ("ids[]", "y"),
    )
    assert "market=KRW-BTC&volume=0.00010&flag=true&ids[]=x&ids[]=y" in params.hash_candidates


@pytest.mark.parametrize("body", [b"{nope", b"[1]", b'{"a":{"b":1}}', b'{"a":1.5e}'])
def test_bad_json_is_a_validation_error(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        from_json(body)
    assert (refused.value.status, refused.value.name) == (400, "validation_error")


def test_bodies_of_gets_and_deletes() -> None:
    assert from_body(b"market=KRW-BTC", "application/x-www-form-urlencoded").first("market") == "KRW-BTC"
    assert from_body(b'{"uuid":"u-1"}', "").first("uuid") == "u-1"
    assert not from_body(b"  ", "application/json")
