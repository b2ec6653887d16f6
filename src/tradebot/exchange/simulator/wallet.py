"""An account's balances: many currencies, each with a free `balance` and a `locked` part (§3.2, §7.3).

Orders lock what they may spend (KRW incl. the fee for bids, the coin for asks), spend from the
lock as they fill and release the rest when they end. Amounts are Decimal in the `MONEY`
context; nothing is rounded and nothing ever goes negative.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from tradebot.core.krw_rules import MONEY

ZERO = Decimal(0)
QUOTE_CURRENCY = "KRW"
AVERAGE_PRICE_QUANTUM = Decimal("0.00000001")


class InsufficientFundsError(Exception):
    """A lock or spend asked for more than the free (or locked) amount."""

    def __init__(self, currency: str, wanted: Decimal, available: Decimal) -> None:
        super().__init__(f"needs {wanted} {currency}, {available} {currency} available")
        self.currency = currency


@dataclass(slots=True)
class Holding:
    """One currency of an account."""

    balance: Decimal = ZERO
    locked: Decimal = ZERO
    avg_buy_price: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """Free plus locked."""
        return MONEY.add(self.balance, self.locked)


class Wallet:
    """Balances by currency code."""

    def __init__(self, balances: dict[str, Decimal] | None = None) -> None:
        self._holdings: dict[str, Holding] = {QUOTE_CURRENCY: Holding()}
        for currency, amount in (balances or {}).items():
            if amount < 0:
                raise ValueError(f"starting balance of {currency} is negative: {amount}")
            self.holding(currency).balance = amount

    def holding(self, currency: str) -> Holding:
        """The holding of `currency`, created empty if new."""
        return self._holdings.setdefault(currency, Holding())

    def free(self, currency: str) -> Decimal:
        """The amount that can be locked now."""
        return self.holding(currency).balance

    def lock(self, currency: str, amount: Decimal) -> None:
        """Move `amount` from free to locked."""
        holding = self.holding(currency)
        if amount > holding.balance:
            raise InsufficientFundsError(currency, amount, holding.balance)
        holding.balance = MONEY.subtract(holding.balance, amount)
        holding.locked = MONEY.add(holding.locked, amount)

    def unlock(self, currency: str, amount: Decimal) -> None:
        """Move `amount` from locked back to free."""
        holding = self.holding(currency)
        self._take_locked(currency, holding, amount)
        holding.balance = MONEY.add(holding.balance, amount)

    def spend_locked(self, currency: str, amount: Decimal) -> None:
        """Pay `amount` out of the locked part (a fill)."""
        self._take_locked(currency, self.holding(currency), amount)

    def credit(self, currency: str, amount: Decimal) -> None:
        """Add `amount` to the free balance (fill proceeds)."""
        holding = self.holding(currency)
        holding.balance = MONEY.add(holding.balance, amount)

    def record_buy(self, currency: str, volume: Decimal, funds: Decimal) -> None:
        """Credit bought coin and update its average buy price (fee excluded, as Upbit shows it)."""
        holding = self.holding(currency)
        held = holding.total
        cost = MONEY.add(MONEY.multiply(held, holding.avg_buy_price), funds)
        holding.balance = MONEY.add(holding.balance, volume)
        holding.avg_buy_price = MONEY.divide(cost, MONEY.add(held, volume)).quantize(
            AVERAGE_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN
        )

    def forget_emptied(self, currency: str) -> None:
        """Reset the average price of a coin that is no longer held."""
        holding = self.holding(currency)
        if currency != QUOTE_CURRENCY and holding.total == 0:
            holding.avg_buy_price = ZERO

    def holdings(self) -> list[tuple[str, Holding]]:
        """KRW first, then every coin with something free or locked, by code."""
        coins = sorted(
            (
                (currency, holding)
                for currency, holding in self._holdings.items()
                if currency != QUOTE_CURRENCY and holding.total > 0
            ),
            key=lambda item: item[0],
        )
        return [(QUOTE_CURRENCY, self._holdings[QUOTE_CURRENCY]), *coins]

    @staticmethod
    def _take_locked(currency: str, holding: Holding, amount: Decimal) -> None:
        if amount < 0 or amount > holding.locked:
            raise InsufficientFundsError(currency, amount, holding.locked)
        holding.locked = MONEY.subtract(holding.locked, amount)
