"""The simulator's Upbit safeguards: market flags, suspension, delisting, key expiry and allowed IPs."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.integration.conftest import ACCESS_KEY, OTHER_ACCESS_KEY, OTHER_SECRET_KEY, START, Simulator
from tradebot.exchange.upbit import (
    OrderRequest,
    OrderSide,
    UpbitAuthError,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
)


def test_market_all_details_flags_set_by_admin_show_in_market_event(simulator: Simulator) -> None:
    simulator.set_market_event("KRW-ETH", warning=True, caution=("PRICE_FLUCTUATIONS",))
    with simulator.quotation_client() as client:
        markets = {market.market: market for market in client.list_markets(details=True)}
    assert (markets["KRW-ETH"].warning, markets["KRW-ETH"].caution) == (
        True,
        frozenset({"PRICE_FLUCTUATIONS"}),
    )
    assert (markets["KRW-BTC"].warning, markets["KRW-BTC"].caution) == (False, frozenset())
    legacy = simulator.http().get("/v1/market/all", params={"isDetails": "true"}).json()
    eth = next(item for item in legacy if item["market"] == "KRW-ETH")
    assert eth["market_event"]["caution"] == {
        "PRICE_FLUCTUATIONS": True, "TRADING_VOLUME_SOARING": False, "DEPOSIT_AMOUNT_SOARING": False,
        "GLOBAL_PRICE_DIFFERENCES": False, "CONCENTRATION_OF_SMALL_ACCOUNTS": False,
    }  # fmt: skip


def test_market_event_unknown_flag_is_refused_by_admin(simulator: Simulator) -> None:
    response = simulator.admin.put("/_admin/markets/event", json={"market": "KRW-BTC", "caution": ["NOPE"]})
    assert response.status_code == 400
    assert response.json()["error"]["name"] == "invalid_admin_request"


def test_safeguard_admin_routes_without_token_are_refused(simulator: Simulator) -> None:
    response = simulator.http().put("/_admin/markets/event", json={"market": "KRW-BTC", "warning": True})
    assert response.status_code == 401


def test_delisted_market_leaves_list_and_its_quotations_answer_404(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        resting = client.create_order(
            OrderRequest.limit(
                "KRW-ETH", OrderSide.BID, Decimal(1_000_000), Decimal("0.01"), identifier="rest-1"
            )
        )
        assert simulator.delist("KRW-ETH")["cancelled_orders"] == 1
        assert client.get_order(uuid=resting.uuid).state.value == "cancel"
    with simulator.quotation_client() as quotes:
        assert [market.market for market in quotes.list_markets(details=True)] == ["KRW-BTC"]
        with pytest.raises(UpbitNotFoundError):
            quotes.get_tickers(["KRW-ETH"])
    simulator.step(120)  # the clock still moves without the market's path
    candles = simulator.http().get("/v1/candles/minutes/1", params={"market": "KRW-ETH"})
    assert candles.status_code == 404
    assert candles.json() == {"error": {"name": 404, "message": "Code not found"}}


def test_suspended_market_refuses_orders_with_market_offline(simulator: Simulator) -> None:
    simulator.suspend("KRW-BTC")
    with simulator.exchange_client() as client:
        with pytest.raises(UpbitOrderRejectedError) as refused:
            client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), identifier="susp-1"))
        assert refused.value.name == "market_offline"
        simulator.suspend("KRW-BTC", suspended=False)
        filled = client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), identifier="susp-2"))
    assert filled.market == "KRW-BTC"


def test_api_keys_shows_expiry_and_expired_key_is_refused(simulator: Simulator) -> None:
    expiry = START + timedelta(days=3)
    simulator.limit_key(expire_at=expiry.isoformat())
    with simulator.exchange_client() as client:
        keys = client.list_api_keys()
        assert [(key.access_key, key.expire_at) for key in keys] == [(ACCESS_KEY, expiry)]
        simulator.step(3 * 86_400)
        with pytest.raises(UpbitAuthError) as refused:
            client.get_accounts()
    assert refused.value.name == "expired_access_key"


def test_api_keys_without_set_expiry_shows_a_year_ahead(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        (key,) = client.list_api_keys()
    assert key.expire_at - datetime.fromisoformat(simulator.step(0)) == timedelta(days=365)


def test_key_used_from_an_address_not_allowed_gets_no_authorization_ip(simulator: Simulator) -> None:
    simulator.limit_key(allowed_ips=["10.1.2.3"])
    with simulator.exchange_client() as client, pytest.raises(UpbitAuthError) as refused:
        client.get_accounts()
    assert refused.value.name == "no_authorization_ip"
    with simulator.exchange_client(access_key=OTHER_ACCESS_KEY, secret_key=OTHER_SECRET_KEY) as other:
        assert other.get_accounts()  # another key's limits are its own
    simulator.limit_key(allowed_ips=["127.0.0.1"])
    with simulator.exchange_client() as client:
        assert client.get_accounts()
