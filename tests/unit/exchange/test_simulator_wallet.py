"""The simulator's wallet: free and locked amounts per currency, never negative."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradebot.exchange.simulator.wallet import InsufficientFundsError, Wallet


def test_lock_spend_and_unlock_move_money_between_free_and_locked() -> None:
    wallet = Wallet({"KRW": Decimal(100_000)})
    wallet.lock("KRW", Decimal("10005"))
    assert (wallet.holding("KRW").balance, wallet.holding("KRW").locked) == (
        Decimal("89995"),
        Decimal("10005"),
    )
    wallet.spend_locked("KRW", Decimal("10004.047373925"))
    wallet.unlock("KRW", Decimal("0.952626075"))
    assert wallet.holding("KRW").balance == Decimal("89995.952626075")
    assert wallet.holding("KRW").locked == 0


def test_refuses_more_than_available() -> None:
    wallet = Wallet({"KRW": Decimal(5000), "BTC": Decimal("0.1")})
    with pytest.raises(InsufficientFundsError):
        wallet.lock("KRW", Decimal("5000.01"))
    wallet.lock("BTC", Decimal("0.1"))
    with pytest.raises(InsufficientFundsError):
        wallet.spend_locked("BTC", Decimal("0.2"))
    with pytest.raises(InsufficientFundsError):
        wallet.unlock("BTC", Decimal("-1"))
    with pytest.raises(ValueError, match="negative"):
        Wallet({"KRW": Decimal(-1)})


def test_average_buy_price_and_listing() -> None:
    wallet = Wallet({"KRW": Decimal(1)})
    wallet.record_buy("BTC", Decimal("0.001"), Decimal(100_000))
    wallet.record_buy("BTC", Decimal("0.001"), Decimal(110_000))
    assert wallet.holding("BTC").avg_buy_price == Decimal(105_000_000)
    wallet.holding("ETH")  # touched but empty: not listed
    assert [currency for currency, _ in wallet.holdings()] == ["KRW", "BTC"]
    wallet.lock("BTC", Decimal("0.002"))
    wallet.spend_locked("BTC", Decimal("0.002"))
    wallet.forget_emptied("BTC")
    assert wallet.holding("BTC").avg_buy_price == 0
    assert [currency for currency, _ in wallet.holdings()] == ["KRW"]
