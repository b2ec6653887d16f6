"""Sending an order so that a crash at any moment loses nothing and doubles nothing.

1. The order is recorded as `requested` under a deterministic identifier, in the same transaction
   as the evaluation that decided it; 2. the broker sends it and follows it; 3. the outcome, the
   position, the account and the audit row are written in one transaction. After a crash between
   1 and 3 the order is found again by identifier (`resume_unfinished`) and finished, never resent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tradebot.core.broker import Broker, Holdings, OrderOutcome, OrderStatus
from tradebot.core.clock import Clock
from tradebot.core.execution import DUST, dust_profit
from tradebot.core.krw_rules import MONEY
from tradebot.core.models import Interval
from tradebot.engine.audit_rows import realised_profit
from tradebot.services.db import Reader, Store, Transaction
from tradebot.services.records import (
    Account,
    Mode,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    Side,
    TradeAudit,
    TradeCause,
)
from tradebot.services.schema import encode_time

NOT_FOUND_GRACE = timedelta(minutes=2)  # far longer than any request can take to arrive
MAX_ATTEMPTS = 5  # per candle and side; refusals past this mean something is wrong, not bad luck
FINAL_FILLED = ("done", "cancel")


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """Why an order is sent: the candle, the cause, the rule or command, the settings versions."""

    side: Side
    candle_start: datetime
    cause: TradeCause
    params_version: int
    conditions_version: int
    rule: str | None = None
    command_id: int | None = None
    requested_by: str | None = None
    note: str | None = None


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

    @property
    def fee_rate(self) -> Decimal:
        """The broker's trading fee."""
        return self._broker.fee_rate

    def identifier(self, side: Side, candle_start: datetime) -> str | None:
        """The next identifier for (candle, side), or None if that candle already traded that side."""
        base = self._base(side, candle_start)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            existing = self._store.order(f"{base}.{attempt}")
            if existing is None:
                return f"{base}.{attempt}"
            if existing.state != "rejected":
                return None  # filled, or still being followed: never a second order
        return None

    def filled(self, side: Side, candle_start: datetime) -> bool:
        """True if an order on `side` for this candle filled (one trade per candle survives restarts)."""
        base = self._base(side, candle_start)
        for attempt in range(1, MAX_ATTEMPTS + 1):
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
        or an earlier order is still unresolved.
        """
        identifier = None if self.unresolved() else self.identifier(intent.side, intent.candle_start)
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

    def resume_unfinished(self, versions: tuple[int, int]) -> bool:
        """Follow every order left `requested`, `wait` or `watch`; True when none is left open.

        An order the exchange does not know yet may still be on its way (sent just before a crash):
        it stays unfinished until NOT_FOUND_GRACE has passed since it was requested, so a late
        arrival is recorded as the fill it is, not as a refusal.
        """
        settled = True
        now = self._clock.now()
        for order in self._store.unfinished_orders(self._mode):
            outcome = self._broker.follow_up(order.identifier)
            if outcome.error_name == "not_found" and now - order.requested_at < NOT_FOUND_GRACE:
                settled = False
                continue
            with self._store.transaction(durable=True) as transaction:
                self.apply(transaction, outcome, _recovery_intent(order, versions))
            settled = settled and outcome.status not in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
        return settled

    def unresolved(self) -> bool:
        """True while an earlier order's outcome is not known: no new order may be sent."""
        return bool(self._store.unfinished_orders(self._mode))

    def holdings(self) -> Holdings:
        """KRW and coin as the account holds them now (the exchange's numbers in LIVE)."""
        return self._broker.holdings()

    def reconcile(self, versions: tuple[int, int]) -> str | None:
        """Take KRW and the coin position from the account; audit a position the bot did not make.

        A trade made outside the bot (e.g. in Upbit's app) is noticed and recorded as `manual`,
        and the position follows the account, entry price included (LESSONS.md #8).
        """
        holdings = self._broker.holdings()
        recorded = self.position()
        volume = recorded.volume if recorded else Decimal(0)
        account = self._store.account(self._mode)
        if holdings.volume == volume and account is not None and account.krw_balance == holdings.krw:
            return None  # nothing changed outside the bot: no write in the 5-second loop
        now = self._clock.now()
        side: Side = "bid" if holdings.volume > volume else "ask"
        intent = OrderIntent(side, now, "manual", *versions)
        with self._store.transaction(durable=True) as transaction:
            self._refresh_holdings(transaction, intent, recorded, now)
            if holdings.volume == volume:
                return None
            note = f"account holds {holdings.volume}, the bot had recorded {volume}"
            transaction.append_trade_audit(
                TradeAudit(
                    mode=self._mode, market=self._market, side=side,
                    fill_price=holdings.average_price or Decimal(0), volume=abs(holdings.volume - volume),
                    fee=Decimal(0), params_version=versions[0], conditions_version=versions[1],
                    cause="manual", executed_at=now, interval=self._interval, note=note,
                )
            )  # fmt: skip
        return note

    def apply(self, transaction: Transaction, outcome: OrderOutcome, intent: OrderIntent) -> None:
        """Write the order's new state and, for a fill, the position, account and audit row."""
        now = self._clock.now()
        if outcome.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
            state = "wait" if outcome.status is OrderStatus.PENDING else None
            if state is not None:
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
        if intent.side == "ask" and before is not None:
            profit = realised_profit(fill.volume, before.entry_price, fill.krw_delta, self._broker.fee_rate)
        self._refresh_holdings(transaction, intent, before, now)
        transaction.append_trade_audit(
            TradeAudit(
                mode=self._mode, market=self._market, side=intent.side, fill_price=fill.price,
                volume=fill.volume, fee=fill.fee, params_version=intent.params_version,
                conditions_version=intent.conditions_version, cause=intent.cause, executed_at=now,
                interval=self._interval, candle_start=intent.candle_start,
                order_identifier=outcome.identifier, order_uuid=outcome.uuid, realised_profit=profit,
                rule=intent.rule, command_id=intent.command_id, requested_by=intent.requested_by,
                note=intent.note,
            )
        )  # fmt: skip

    def _refresh_holdings(
        self, transaction: Transaction, intent: OrderIntent, before: Position | None, now: datetime
    ) -> None:
        """Position and KRW as the account now holds them (the exchange's numbers in LIVE)."""
        holdings = self._broker.holdings()
        account = transaction.account(self._mode)
        starting = account.starting_krw if account else holdings.krw
        transaction.set_account(
            Account(mode=self._mode, krw_balance=holdings.krw, starting_krw=starting, updated_at=now)
        )
        if holdings.volume == 0:
            transaction.clear_position(self._mode, self._market)
            return
        entry = holdings.average_price
        carried = before if intent.side == "ask" else None  # a partial sell keeps its history
        peak = carried.peak_price if carried and carried.peak_price else entry
        if peak is not None and entry is not None:
            peak = max(peak, entry)
        transaction.set_position(
            Position(
                mode=self._mode, market=self._market, volume=holdings.volume, entry_price=entry,
                peak_price=peak,
                entry_candle_start=carried.entry_candle_start if carried else intent.candle_start,
                bars_held=carried.bars_held if carried else 0, updated_at=now,
            )
        )  # fmt: skip

    def position(self, reader: Reader | None = None) -> Position | None:
        """The recorded position in this desk's market (a user may hold others)."""
        reader = reader or self._store
        return next((item for item in reader.positions(self._mode) if item.market == self._market), None)

    def _request(self, identifier: str, intent: OrderIntent, amount: Decimal) -> OrderRequest:
        buying = intent.side == "bid"
        return OrderRequest(
            identifier=identifier, mode=self._mode, market=self._market, side=intent.side,
            ord_type="price" if buying else "market", price=amount if buying else None,
            volume=None if buying else amount, candle_start=intent.candle_start,
            requested_at=self._clock.now(),
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
            transaction.append_trade_audit(
                TradeAudit(
                    mode=self._mode, market=self._market, side="ask", fill_price=price,
                    volume=position.volume, fee=Decimal(0), params_version=intent.params_version,
                    conditions_version=intent.conditions_version, cause=intent.cause,
                    executed_at=self._clock.now(), interval=self._interval,
                    candle_start=intent.candle_start, realised_profit=profit, rule=DUST,
                    command_id=intent.command_id, requested_by=intent.requested_by, note=intent.note,
                )
            )  # fmt: skip
        return profit

    def wrote_off_dust(self, candle_start: datetime) -> bool:
        """True if a position was written off as dust during this candle (one trade per candle)."""
        sql = "SELECT 1 FROM trade_audit WHERE mode = ? AND market = ? AND candle_start = ? AND rule = ?"
        return bool(self._store.query(sql, (self._mode, self._market, encode_time(candle_start), DUST)))


def _recovery_intent(order: Order, versions: tuple[int, int]) -> OrderIntent:
    start = order.candle_start or order.requested_at
    note = "finished after a restart or a lost answer"
    return OrderIntent(order.side, start, "recovery", versions[0], versions[1], rule="recovery", note=note)
