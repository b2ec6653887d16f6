"""Simulated accounts: a key pair, a wallet, the orders and the identifiers and nonces used."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from tradebot.exchange.simulator.records import SimOrder
from tradebot.exchange.simulator.safeguards import KeyLimits
from tradebot.exchange.simulator.wallet import Wallet

# Nonces remembered per account. Far more than any session sends; bounded so a simulator left
# running for weeks cannot grow without limit (the oldest are forgotten first).
MAX_REMEMBERED_NONCES = 1_000_000


@dataclass(slots=True)
class SimAccount:
    """One API key pair and everything it owns."""

    access_key: str
    secret_key: str = field(repr=False)
    wallet: Wallet = field(default_factory=Wallet)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    by_identifier: dict[str, SimOrder] = field(default_factory=dict)
    used_identifiers: set[str] = field(default_factory=set)
    limits: KeyLimits = field(default_factory=KeyLimits)  # expiry and allowed IPs (`/_admin/keys`)
    _nonces: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @classmethod
    def funded(cls, access_key: str, secret_key: str, balances: dict[str, Decimal]) -> SimAccount:
        """An account holding `balances` (currency code -> free amount)."""
        return cls(access_key, secret_key, Wallet(balances))

    def use_nonce(self, nonce: str) -> bool:
        """Remember `nonce`; False if it was seen before."""
        if nonce in self._nonces:
            return False
        self._nonces[nonce] = None
        if len(self._nonces) > MAX_REMEMBERED_NONCES:
            self._nonces.popitem(last=False)
        return True

    def add_order(self, order: SimOrder) -> None:
        """Keep a new order, findable by uuid and identifier."""
        self.orders[order.uuid] = order
        if order.identifier is not None:
            self.by_identifier[order.identifier] = order

    def find_order(self, uuid: str | None, identifier: str | None) -> SimOrder | None:
        """The order with `uuid` (which wins) or else `identifier`."""
        if uuid is not None:
            return self.orders.get(uuid)
        if identifier is not None:
            return self.by_identifier.get(identifier)
        return None
