"""The order lifecycle: reserve funds, fill, rest, cancel (upbit-api.md §3.4-§3.6, §7.3, §7.4).

Market and marketable orders take from the simulated book at once, level by level; resting limit
orders fill at their own price when the price path reaches them. Every fill's money comes from
`krw_rules.market_buy_fill` / `market_sell_fill`, the arithmetic the paper ledger and the
backtest use, so all three book identical amounts.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from decimal import Decimal

import numpy as np

from tradebot.core.krw_rules import (
    DEFAULT_FEE_RATE,
    MAX_ORDER_KRW,
    MIN_ORDER_KRW,
    MONEY,
    Fill,
    market_buy_fill,
    market_sell_fill,
    reserved_buy_fee,
)
from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import ApiError
from tradebot.exchange.simulator.events import ExchangeObserver, NoObserver
from tradebot.exchange.simulator.formatting import nanos_to_utc
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.orderbook import Level
from tradebot.exchange.simulator.records import ZERO, SimOrder, SimTrade
from tradebot.exchange.simulator.validation import OrderSpec
from tradebot.exchange.simulator.wallet import QUOTE_CURRENCY


def _new_uuid() -> str:
    return str(uuid.uuid4())


class MatchingEngine:
    """Creates, fills and ends orders against the markets' books and price paths."""

    def __init__(
        self, fee_rate: Decimal = DEFAULT_FEE_RATE, observer: ExchangeObserver | None = None
    ) -> None:
        self.fee_rate = fee_rate
        self.observer: ExchangeObserver = observer or NoObserver()  # told of every order event
        self._sequence = itertools.count(1)

    def open_order(self, account: SimAccount, spec: OrderSpec, market: MarketData, now_ns: int) -> SimOrder:
        """Check totals and balances, lock the funds and record the order in state `wait`."""
        order = self.preview(account, spec, market, now_ns)
        account.wallet.lock(order.lock_currency, order.locked)
        account.add_order(order)
        self.observer.order_changed(account, order, None)
        return order

    def preview(self, account: SimAccount, spec: OrderSpec, market: MarketData, now_ns: int) -> SimOrder:
        """The order `spec` would create, after every check, without locking or recording it."""
        self._check_totals(spec, market.levels(now_ns))
        lock_currency, locked, reserved_fee = self._reservation(spec, market)
        if locked > account.wallet.free(lock_currency):
            message = f"주문가능한 금액({lock_currency})이 부족합니다."
            raise ApiError(400, f"insufficient_funds_{spec.side}", message)
        return SimOrder(
            uuid=_new_uuid(),
            access_key=account.access_key,
            market=spec.market,
            side=spec.side,
            ord_type=spec.ord_type,
            price=spec.price,
            volume=spec.volume,
            created_at=nanos_to_utc(now_ns),
            sequence=next(self._sequence),
            reserved_fee=reserved_fee,
            locked=locked,
            lock_currency=lock_currency,
            identifier=spec.identifier,
            time_in_force=spec.time_in_force,
            smp_type=spec.smp_type,
            checked_index=market.index(now_ns),
        )

    def execute(self, account: SimAccount, order: SimOrder, market: MarketData, now_ns: int) -> None:
        """Take what the order can from the book now; then end it, or leave a limit order resting."""
        levels = market.levels(now_ns)
        tradable = [level for level in levels if self._within_limit(order, level)]
        refused = (order.time_in_force == "post_only" and tradable) or (
            order.time_in_force == "fok" and not self._fillable(order, tradable)
        )
        if not refused:
            for level in tradable:
                self._take(account, order, level, nanos_to_utc(now_ns))
                if self._complete(order):
                    break
        if order.ord_type == "limit" and order.time_in_force is None and not self._complete(order):
            return  # rests in the book until the price path reaches it
        self._finish(account, order, "done" if self._complete(order) else "cancel")

    def cancel(self, account: SimAccount, order: SimOrder) -> None:
        """End an open order; what it still locks goes back to the free balance."""
        self._finish(account, order, "cancel")

    def follow_path(self, account: SimAccount, order: SimOrder, market: MarketData, now_ns: int) -> None:
        """Fill a resting limit order if a candle since the last check reached its price."""
        index = market.index(now_ns)
        if order.checked_index >= index or order.price is None:
            return
        path = market.path
        window = slice(order.checked_index + 1, index + 1)
        limit = float(order.price)
        reached = path.low[window] <= limit if order.side == "bid" else path.high[window] >= limit
        order.checked_index = index
        hits = np.flatnonzero(reached)
        if hits.size:
            when = max(nanos_to_utc(int(path.start_ns[window.start + int(hits[0])])), order.created_at)
            self._fill_at_limit(account, order, when)

    def follow_price(self, account: SimAccount, order: SimOrder, price: Decimal, now_ns: int) -> None:
        """Fill a resting limit order that a price set by hand has crossed."""
        assert order.price is not None
        crossed = price <= order.price if order.side == "bid" else price >= order.price
        if crossed:
            self._fill_at_limit(account, order, nanos_to_utc(now_ns))

    def _fill_at_limit(self, account: SimAccount, order: SimOrder, when: datetime) -> None:
        assert order.price is not None
        remaining = order.remaining_volume or ZERO
        self._take(account, order, Level(order.price, remaining, order.price, remaining), when)
        self._finish(account, order, "done")

    def _check_totals(self, spec: OrderSpec, levels: list[Level]) -> None:
        if spec.sized_in_krw:
            assert spec.price is not None
            total = spec.price
            depth = sum((MONEY.multiply(level.ask_size, level.ask_price) for level in levels), ZERO)
        else:
            assert spec.volume is not None
            unit_price = spec.price if spec.ord_type == "limit" else levels[0].bid_price
            total = MONEY.multiply(spec.volume, unit_price or ZERO)
            depth = sum((level.bid_size for level in levels), ZERO) if spec.side == "ask" else spec.volume
        if total < MIN_ORDER_KRW:
            message = f"최소주문금액 이상으로 주문해주세요 (order total {total} KRW < {MIN_ORDER_KRW} KRW)"
            raise ApiError(400, f"under_min_total_{spec.side}", message)
        if total > MAX_ORDER_KRW:
            raise ApiError(
                400, f"invalid_funds_{spec.side}", f"order total {total} KRW is over {MAX_ORDER_KRW}"
            )
        amount = spec.price if spec.sized_in_krw else spec.volume
        if spec.ord_type in ("price", "market") and amount is not None and amount > depth:
            raise ApiError(400, "volume_too_large", "주문량이 호가 30단계의 잔량을 넘습니다.")

    def _reservation(self, spec: OrderSpec, market: MarketData) -> tuple[str, Decimal, Decimal]:
        if spec.side == "ask":
            assert spec.volume is not None
            return market.base_currency, spec.volume, ZERO
        assert spec.price is not None
        total = spec.price if spec.sized_in_krw else MONEY.multiply(spec.price, spec.volume or ZERO)
        fee = reserved_buy_fee(total, self.fee_rate)
        return QUOTE_CURRENCY, MONEY.add(total, fee), fee

    @staticmethod
    def _within_limit(order: SimOrder, level: Level) -> bool:
        if order.ord_type != "limit" or order.price is None:
            return True
        return level.ask_price <= order.price if order.side == "bid" else level.bid_price >= order.price

    @staticmethod
    def _fillable(order: SimOrder, levels: list[Level]) -> bool:
        if order.side == "ask":
            return sum((level.bid_size for level in levels), ZERO) >= (order.volume or ZERO)
        if order.volume is not None:
            return sum((level.ask_size for level in levels), ZERO) >= order.volume
        capacity = sum((MONEY.multiply(level.ask_size, level.ask_price) for level in levels), ZERO)
        return capacity >= (order.price or ZERO)

    @staticmethod
    def _complete(order: SimOrder) -> bool:
        if order.volume is None:
            return order.executed_funds == order.price
        return order.executed_volume == order.volume

    def _take(self, account: SimAccount, order: SimOrder, level: Level, when: datetime) -> None:
        if order.side == "bid":
            if order.volume is None:
                budget = MONEY.subtract(order.price or ZERO, order.executed_funds)
                total = min(budget, MONEY.multiply(level.ask_size, level.ask_price))
            else:
                volume = min(order.remaining_volume or ZERO, level.ask_size)
                total = MONEY.multiply(volume, level.ask_price)
            fill = market_buy_fill(total, level.ask_price, self.fee_rate)
        else:
            volume = min(order.remaining_volume or ZERO, level.bid_size)
            fill = market_sell_fill(volume, level.bid_price, self.fee_rate)
        if fill.volume > 0:
            self._book(account, order, fill, when)

    def _book(self, account: SimAccount, order: SimOrder, fill: Fill, when: datetime) -> None:
        wallet = account.wallet
        coin = order.market.split("-", 1)[1]
        if fill.side == "bid":
            spent = MONEY.minus(fill.krw_delta)  # funds + fee, out of the order's lock
            wallet.spend_locked(QUOTE_CURRENCY, spent)
            wallet.record_buy(coin, fill.volume, fill.funds)
        else:
            spent = fill.volume
            wallet.spend_locked(coin, fill.volume)
            wallet.credit(QUOTE_CURRENCY, fill.krw_delta)
            wallet.forget_emptied(coin)
        trade = SimTrade(
            _new_uuid(), order.market, order.side, fill.price, fill.volume, fill.funds, fill.fee, when
        )
        order.record(trade, spent)
        self.observer.order_changed(account, order, trade)

    def _finish(self, account: SimAccount, order: SimOrder, state: str) -> None:
        order.state = state
        # The order keeps showing what it held at the end (Upbit's cancelled market buy shows
        # `locked` 0.952626075); the wallet gets it back.
        if order.locked > 0:
            account.wallet.unlock(order.lock_currency, order.locked)
        self.observer.order_changed(account, order, None)
