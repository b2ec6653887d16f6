"""One `GET /v1/accounts` per user per engine cycle, shared by the user's loop and its guards.

A LIVE user with a loop and two guarded positions read the same account three times a cycle, one
per market (issue 15, part 4). Every one of them reconciles against the same answer: the runner
starts a new cycle (`next_cycle`) at each tick, the first reconciliation asks the exchange, and the
others in that cycle reuse its answer. Whatever changes balances (an order sent or followed up by
any of them) forgets it, so the next reader asks again. Reads that size an order or book a fill
never use it (`LiveBroker.holdings` always asks): what a guard decides is unchanged.

One runner thread uses it (its loop and guards run in turn), so it needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable

from tradebot.exchange.upbit import Account


class CycleAccounts:
    """The account balances read once in the current cycle, for every market of one user."""

    def __init__(self) -> None:
        self._accounts: list[Account] | None = None
        self.requests = 0  # reads sent, for tests and the benchmark

    def next_cycle(self) -> None:
        """A new engine cycle: the next reader asks the exchange again."""
        self._accounts = None

    def forget(self) -> None:
        """Balances may have changed (an order was sent or settled): the next reader asks again."""
        self._accounts = None

    def read(self, fetch: Callable[[], list[Account]]) -> list[Account]:
        """This cycle's balances, fetched by the first reader."""
        if self._accounts is None:
            self.requests += 1
            self._accounts = fetch()
        return self._accounts
