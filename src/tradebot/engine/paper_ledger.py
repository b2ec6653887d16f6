"""TEST mode's broker: the paper ledger, kept equal to what the database records between orders.

One user may hold TEST positions in several markets: the running loop's, and others whose price
exits a guard checks (TRADING_RULES.md, Positions the bot owns). Each has its own `PaperBroker`,
and all of them spend and earn the one TEST KRW balance. A ledger that kept its own copy of the
balance would overwrite the other's fills at its next order. So before every read and every order
the ledger is reloaded from the database whenever the account row changed since it last looked;
in between (a fill not yet recorded) it is left alone. The fills themselves stay the core's
(`PaperAccount` through `PaperBroker`): this only chooses the balance they start from.
"""

from __future__ import annotations

from decimal import Decimal

from tradebot.core.broker import Holdings, OrderOutcome
from tradebot.core.errors import SettingsError
from tradebot.core.ledger import PaperAccount
from tradebot.exchange.paper_broker import PaperBroker
from tradebot.services.records import AccountBalance
from tradebot.services.storage import Store


def paper_account(store: Store, market: str) -> PaperAccount:
    """The TEST ledger of `market` as the database last recorded it."""
    account = store.account("TEST")
    if account is None:
        raise SettingsError("the user has no TEST account row; recreate it with: tradebot user add")
    position = next((item for item in store.positions("TEST") if item.market == market), None)
    if position is None:
        return PaperAccount(krw=account.krw_balance)
    return PaperAccount(
        krw=account.krw_balance,
        volume=position.volume,
        entry_price=position.entry_price,
        peak=position.peak_price,
    )


class RecordedPaperBroker:
    """A `Broker` over the TEST ledger of one market that follows the database's KRW balance."""

    def __init__(self, store: Store, market: str) -> None:
        self._store, self._market = store, market
        self._seen: AccountBalance | None = store.account("TEST")
        self.paper = PaperBroker(paper_account(store, market))
        self.fee_rate: Decimal = self.paper.fee_rate

    def _follow_database(self) -> None:
        """Reload the ledger when another loop (or a guard) recorded a change since the last look."""
        recorded = self._store.account("TEST")
        if recorded == self._seen:
            return  # unchanged, or our own fill not recorded yet: the ledger is the newer
        self._seen = recorded
        self.paper.account = paper_account(self._store, self._market)

    def holdings(self) -> Holdings:
        """The ledger's KRW, volume and entry price."""
        self._follow_database()
        return self.paper.holdings()

    def cycle_holdings(self) -> Holdings:
        """As `holdings`: the recorded ledger costs no request."""
        return self.holdings()

    def buy(self, total_krw: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill on the ledger as `PaperBroker.buy` does, from the recorded balance."""
        self._follow_database()
        return self.paper.buy(total_krw, identifier, price)

    def sell(self, volume: Decimal, identifier: str, price: Decimal) -> OrderOutcome:
        """Fill on the ledger as `PaperBroker.sell` does, from the recorded balance."""
        self._follow_database()
        return self.paper.sell(volume, identifier, price)

    def follow_up(self, identifier: str) -> OrderOutcome:
        """As `PaperBroker.follow_up`: a paper order left unrecorded never happened."""
        return self.paper.follow_up(identifier)
