"""Sending an order so that a crash at any moment loses nothing and doubles nothing.

1. The order is recorded as `requested` under a deterministic identifier, with why it is sent, in
   the same transaction as the evaluation that decided it; 2. the broker sends it and follows it;
   3. the outcome, the position, the account and the audit row are written in one transaction.
   After a crash between 1 and 3 the order is found again by identifier (`resume_unfinished`) and
   finished with its stored intent, never resent.

The position is the bot's own fills (TRADING_RULES "Positions the bot owns"): buys add, sells
subtract, the entry is the volume-weighted average of its buys. The account's coin balance only
ever shrinks it (`reconcile`), never grows it or moves its entry, peak or bars held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from tradebot.core.broker import NOT_FOUND, Broker, Holdings, OrderOutcome, OrderStatus
from tradebot.core.clock import Clock
from tradebot.core.execution import DUST, dust_profit
from tradebot.core.krw_rules import MONEY, Fill
from tradebot.core.models import Interval
from tradebot.engine.audit_rows import realised_profit
from tradebot.engine.order_intent import OrderIntent, recovery_intent
from tradebot.services.notifications.messages import notify_refusal, notify_sold_outside, notify_trade
from tradebot.services.records import (
    AccountBalance,
    Mode,
    OrderUpdate,
    PendingOrder,
    Position,
    Side,
    StoredOrder,
    TradeAudit,
)
from tradebot.services.storage import Reader, Store, Transaction

NOT_FOUND_GRACE = timedelta(minutes=2)  # far longer than any request can take to arrive
# An order Upbit does not show is declared never placed only after every lookup (identifier, open
# and closed lists) said so for this long in a row, and NOT_FOUND_GRACE after it was requested.
ABSENT_CONFIRMATION = timedelta(minutes=1)
LEGACY_ATTEMPTS = 5  # older versions sent up to 5 attempts per candle and side; their rows still count
SHORTFALL_READS = 2  # a wallet short of the bot's coin on two reads in a row is a sale, not a lagging read
UNKNOWN_STATES = (OrderStatus.PENDING, OrderStatus.UNKNOWN)


class OrderDesk:
    """Places market orders for one user, mode and market, and records every step."""

    def __init__(
        self,
        store: Store,
        broker: Broker,
        clock: Clock,
        user: str,
        mode: Mode,
        market: str,
        interval: Interval,
    ) -> None:
        self._store, self._broker, self._clock = store, broker, clock
        self._user, self._mode, self._market, self._interval = user, mode, market, interval
        self._absent_since: dict[str, datetime] = {}  # identifier -> first lookup that did not find it
        self._shortfall_reads = 0
        self._waiting: str | None = None

    @property
    def fee_rate(self) -> Decimal:
        """The broker's trading fee."""
        return self._broker.fee_rate

    @property
    def waiting(self) -> str | None:
        """Why an order of this market is still unresolved after the last follow-up, if one is."""
        return self._waiting

    def identifier(self, side: Side, candle_start: datetime) -> str | None:
        """The identifier for (candle, side), or None if that candle already has an order on that side.

        One attempt per candle and side: a refused order is tried again on the next candle, never
        five times on this one (issue 12, finding 4).
        """
        base = self._base(side, candle_start)
        return None if self._store.order(f"{base}.1") is not None else f"{base}.1"

    def filled(self, side: Side, candle_start: datetime) -> bool:
        """True if an order on `side` for this candle filled (one trade per candle survives restarts)."""
        base = self._base(side, candle_start)
        for attempt in range(1, LEGACY_ATTEMPTS + 1):
            existing = self._store.order(f"{base}.{attempt}")
            if existing is None:
                return False
            if existing.state == "done":
                return True
        return False

    def _base(self, side: Side, candle_start: datetime) -> str:
        # Usernames are [a-z0-9_]; Upbit identifiers allow [A-Za-z0-9-._:], and '-' never occurs in
        # a username, so the mapping stays one to one.
        user = self._user.replace("_", "-")
        return f"tb.{user}.{self._mode.lower()}.{self._market}.{int(candle_start.timestamp())}.{side}"

    def place(
        self, intent: OrderIntent, amount: Decimal, price: Decimal, record: Callable[[Transaction], None]
    ) -> OrderOutcome | None:
        """Send a buy of `amount` KRW or a sell of `amount` coin; `record` writes the evaluation with it.

        Returns None (after running `record`) when this candle already has an order on this side,
        an earlier order is still unresolved, or (a buy) the market holds a position waiting for
        the user's decision. A sell never asks for more than the wallet's free coin.
        """
        blocked = self.unresolved() or (intent.side == "bid" and self.adopted() is not None)
        identifier = None if blocked else self.identifier(intent.side, intent.candle_start)
        if identifier is not None and intent.side == "ask":
            amount = self._sellable(amount)
        with self._store.transaction(durable=True) as transaction:
            record(transaction)
            if identifier is None:
                return None
            transaction.insert_order(self._request(identifier, intent, amount))
        if intent.side == "bid":
            outcome = self._broker.buy(amount, identifier, price)
        else:
            outcome = self._broker.sell(amount, identifier, price)
        with self._store.transaction(durable=True) as transaction:
            self.apply(transaction, outcome, intent)
        return outcome

    def _sellable(self, volume: Decimal) -> Decimal:
        """The bot's volume, capped at the wallet's free coin (coins locked by an order cannot sell)."""
        free = self._broker.holdings().volume
        return min(volume, free) if free > 0 else volume

    def resume_unfinished(self, versions: tuple[int, int]) -> bool:
        """Follow every unfinished order of this market; True when none is left open.

        An order Upbit does not show may still be on its way: it stays unfinished (and blocks new
        orders) until `_absent_long_enough`; a failed lookup never counts as absence.
        """
        settled, self._waiting = True, None
        now = self._clock.now()
        for order in self._store.unfinished_orders(self._mode, self._market):
            outcome = self._broker.follow_up(order.identifier)
            if outcome.error_name == NOT_FOUND and not self._absent_long_enough(order, now):
                settled = False
                minutes = (now - order.requested_at).total_seconds() / 60
                self._waiting = (
                    f"order {order.identifier} ({order.side}) not shown by Upbit {minutes:.1f} min after "
                    "it was sent; still looking it up, no new order until it is settled"
                )
                continue
            if outcome.status is not OrderStatus.UNKNOWN:
                self._absent_since.pop(order.identifier, None)  # shown after all: absence starts over
            if outcome.status in UNKNOWN_STATES:
                settled = False
                self._waiting = f"order {order.identifier} unresolved: {outcome.message or outcome.status}"
            with self._store.transaction(durable=True) as transaction:
                self.apply(transaction, outcome, recovery_intent(order, versions))
        return settled

    def _absent_long_enough(self, order: StoredOrder, now: datetime) -> bool:
        # The in-memory count starts over whenever the desk is rebuilt (a restart, the watchdog):
        # an order sent NOT_FOUND_GRACE + ABSENT_CONFIRMATION ago that this lookup finds nowhere is
        # absent too, or a loop rebuilt every minute would wait for it forever (full soak).
        first = self._absent_since.setdefault(order.identifier, now)
        waited = now - order.requested_at
        confirmed = now - first >= ABSENT_CONFIRMATION or waited >= NOT_FOUND_GRACE + ABSENT_CONFIRMATION
        if waited >= NOT_FOUND_GRACE and confirmed:
            del self._absent_since[order.identifier]
            return True
        return False

    def unresolved(self) -> bool:
        """True while an earlier order of this market is not known: no new order may be sent."""
        return bool(self._store.unfinished_orders(self._mode, self._market))

    def holdings(self) -> Holdings:
        """KRW and coin as the account holds them now (the exchange's numbers in LIVE)."""
        return self._broker.holdings()

    def reconcile(self, versions: tuple[int, int]) -> str | None:
        """Take KRW from the account; shrink the position when the wallet holds less of the coin.

        Coins beyond the bot's position are the user's and change nothing. A wallet (free plus
        locked) short of the bot's volume on SHORTFALL_READS reads in a row means the user sold or
        withdrew the bot's coins: the position shrinks to what is there, audited as `manual`.
        Returns that audit note, or None. In LIVE the account read is the user's one of this
        cycle, shared with its other markets (`CycleAccounts`).
        """
        holdings = self._broker.cycle_holdings()
        position = self.position()
        short = position is not None and holdings.wallet_volume < position.volume
        self._shortfall_reads = self._shortfall_reads + 1 if short else 0
        shrink = position is not None and self._shortfall_reads >= SHORTFALL_READS
        account = self._store.account(self._mode)
        if not shrink and account is not None and account.krw_balance == holdings.krw:
            return None  # nothing changed outside the bot: no write in the 5-second loop
        now = self._clock.now()
        with self._store.transaction(durable=True) as transaction:
            self._record_krw(transaction, holdings.krw, now)
            if not shrink or position is None:
                return None
            self._shortfall_reads = 0
            return self._shrink(transaction, position, holdings, versions, now)

    def _shrink(
        self, transaction: Transaction, position: Position, holdings: Holdings, versions: tuple[int, int],
        now: datetime,
    ) -> str:  # fmt: skip
        remaining = holdings.wallet_volume
        if remaining > 0:
            transaction.set_position(replace(position, volume=remaining, updated_at=now))
        else:
            transaction.clear_position(self._mode, self._market)
        note = (
            f"the wallet holds {remaining} (free {holdings.volume}, locked {holdings.locked}) of the "
            f"bot's {position.volume}: sold or withdrawn outside the bot, the position shrinks to what "
            "is there (sale price unknown: the entry price is recorded)"
        )
        transaction.append_trade_audit(
            TradeAudit(
                mode=self._mode, market=self._market, side="ask",
                fill_price=position.entry_price or Decimal(0), volume=position.volume - remaining,
                fee=Decimal(0), params_version=versions[0], conditions_version=versions[1],
                cause="manual", executed_at=now, interval=self._interval, note=note,
            )
        )  # fmt: skip
        notify_sold_outside(transaction, mode=self._mode, market=self._market, note=note, now=now)
        return note

    def apply(self, transaction: Transaction, outcome: OrderOutcome, intent: OrderIntent) -> None:
        """Write the order's new state and, for a fill, the position, account and audit row."""
        now = self._clock.now()
        if outcome.status in UNKNOWN_STATES:
            if outcome.status is OrderStatus.PENDING:
                transaction.update_order(
                    outcome.identifier, OrderUpdate(state="wait", updated_at=now, uuid=outcome.uuid)
                )
            return
        if outcome.status is OrderStatus.REFUSED or outcome.fill is None:
            update = OrderUpdate(
                state="rejected", updated_at=now, uuid=outcome.uuid,
                error_name=outcome.error_name, error_message=outcome.message[:500],
            )  # fmt: skip
            transaction.update_order(outcome.identifier, update)
            notify_refusal(
                transaction, mode=self._mode, market=self._market, side=intent.side, now=now,
                identifier=outcome.identifier, error=outcome.error_name, message=outcome.message[:500],
            )  # fmt: skip
            return
        self._record_fill(transaction, outcome, intent, now)

    def _record_fill(
        self, transaction: Transaction, outcome: OrderOutcome, intent: OrderIntent, now: datetime
    ) -> None:
        fill = outcome.fill
        assert fill is not None  # checked by the caller
        update = OrderUpdate(
            state="done", updated_at=now, uuid=outcome.uuid,
            executed_volume=fill.volume, average_price=fill.price, paid_fee=fill.fee,
        )  # fmt: skip
        transaction.update_order(outcome.identifier, update)
        before = self.position(transaction)
        profit = None
        if intent.side == "ask" and before is not None and before.entry_price is not None:
            profit = realised_profit(fill.volume, before.entry_price, fill.krw_delta, self._broker.fee_rate)
        self._book(transaction, intent, before, fill, now)
        self._record_krw(transaction, self._broker.holdings().krw, now)
        audit = TradeAudit(
            mode=self._mode, market=self._market, side=intent.side, fill_price=fill.price,
            volume=fill.volume, fee=fill.fee, params_version=intent.params_version,
            conditions_version=intent.conditions_version, cause=intent.cause, executed_at=now,
            interval=self._interval, candle_start=intent.candle_start,
            order_identifier=outcome.identifier, order_uuid=outcome.uuid, realised_profit=profit,
            rule=intent.rule, command_id=intent.command_id, requested_by=intent.requested_by,
            note=intent.note,
        )  # fmt: skip
        transaction.append_trade_audit(audit)
        notify_trade(transaction, audit, before.entry_price if before is not None else None)

    def _book(
        self,
        transaction: Transaction,
        intent: OrderIntent,
        before: Position | None,
        fill: Fill,
        now: datetime,
    ) -> None:
        """The bot's position after its own fill: a buy adds at its price, a sell subtracts."""
        if intent.side == "ask":
            if before is None:
                return  # nothing of the bot's was held (a sell recovered after a manual shrink)
            remaining = before.volume - fill.volume
            if remaining > 0:
                transaction.set_position(replace(before, volume=remaining, updated_at=now))
            else:
                transaction.clear_position(self._mode, self._market)
            return
        if before is None or before.entry_price is None:
            volume, entry = (before.volume if before else Decimal(0)) + fill.volume, fill.price
        else:
            volume = before.volume + fill.volume
            cost = MONEY.add(MONEY.multiply(before.volume, before.entry_price), fill.volume * fill.price)
            entry = MONEY.divide(cost, volume)
        peak = max(before.peak_price or entry, entry) if before else entry
        transaction.set_position(
            Position(
                mode=self._mode, market=self._market, volume=volume, entry_price=entry, peak_price=peak,
                entry_candle_start=before.entry_candle_start if before else intent.candle_start,
                bars_held=before.bars_held if before else 0, updated_at=now,
            )
        )  # fmt: skip

    def _record_krw(self, transaction: Transaction, krw: Decimal, now: datetime) -> None:
        """KRW as the account holds it (the exchange's number in LIVE, the ledger's in TEST)."""
        account = transaction.account(self._mode)
        starting = account.starting_krw if account else krw
        transaction.set_account(
            AccountBalance(mode=self._mode, krw_balance=krw, starting_krw=starting, updated_at=now)
        )

    def position(self, reader: Reader | None = None) -> Position | None:
        """The bot's own position in this desk's market (a user may hold others; adopted ones wait)."""
        found = self._recorded(reader)
        return found if found is not None and found.origin == "bot" else None

    def adopted(self, reader: Reader | None = None) -> Position | None:
        """A position in this market an older version took from the account, awaiting the user."""
        found = self._recorded(reader)
        return found if found is not None and found.origin == "adopted" else None

    def _recorded(self, reader: Reader | None) -> Position | None:
        reader = reader or self._store
        return next((item for item in reader.positions(self._mode) if item.market == self._market), None)

    def _request(self, identifier: str, intent: OrderIntent, amount: Decimal) -> PendingOrder:
        buying = intent.side == "bid"
        return PendingOrder(
            identifier=identifier, mode=self._mode, market=self._market, side=intent.side,
            ord_type="price" if buying else "market", price=amount if buying else None,
            volume=None if buying else amount, candle_start=intent.candle_start,
            requested_at=self._clock.now(), cause=intent.cause, rule=intent.rule,
            command_id=intent.command_id, requested_by=intent.requested_by, note=intent.note,
            params_version=intent.params_version, conditions_version=intent.conditions_version,
        )  # fmt: skip

    # --- dust (TRADING_RULES.md v2): a position too small to sell closes in the books only ---------

    def write_off_dust(
        self, intent: OrderIntent, position: Position, price: Decimal, record: Callable[[Transaction], None]
    ) -> Decimal | None:
        """Close `position` without an order, valued at `price`; returns the realised profit.

        Returns None (after running `record`) while an earlier order is unresolved: it may be this
        position's sale, so nothing is written off until it settles.

        Upbit refuses a sell under 5,000 KRW, so none is sent: in one durable transaction `record`
        writes the evaluation, the position is cleared and a trade_audit row (rule `dust`, fee 0,
        no order, `intent.note` saying why) records it. The coins stay in the wallet, outside the
        bot's position.
        """
        entry_funds = MONEY.multiply(position.volume, position.entry_price or Decimal(0))
        entry_fee = MONEY.multiply(entry_funds, self._broker.fee_rate)
        profit = dust_profit(position.volume, price, entry_funds, entry_fee)
        unresolved = self.unresolved()
        with self._store.transaction(durable=True) as transaction:
            record(transaction)
            if unresolved:
                return None
            transaction.clear_position(self._mode, self._market)
            audit = TradeAudit(
                mode=self._mode, market=self._market, side="ask", fill_price=price,
                volume=position.volume, fee=Decimal(0), params_version=intent.params_version,
                conditions_version=intent.conditions_version, cause=intent.cause,
                executed_at=self._clock.now(), interval=self._interval,
                candle_start=intent.candle_start, realised_profit=profit, rule=DUST,
                command_id=intent.command_id, requested_by=intent.requested_by, note=intent.note,
            )  # fmt: skip
            transaction.append_trade_audit(audit)
            notify_trade(transaction, audit, position.entry_price)
        return profit

    def wrote_off_dust(self, candle_start: datetime) -> bool:
        """True if a position was written off as dust during this candle (one trade per candle)."""
        return self._store.trade_recorded(self._mode, self._market, candle_start, DUST)
