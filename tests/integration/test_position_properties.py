"""Stateful property test: the live loop against the simulator under what real users and exchanges do.

A hypothesis `RuleBasedStateMachine` drives one user's loop through random sequences of: price moves
and candle closes, price checks between closes, force buys and sells, manual buys and sells in the
same Upbit account, deposits, the user's own limit orders locking coins, restarts, lost order
answers, settings changes (stop values, market) and TEST <-> LIVE switches. After every step it
checks the money invariants of TRADING_RULES.md v2 ("Positions the bot owns"):

- no order sent twice (one filled order per candle and side, one row per identifier);
- the bot never sells more than its own orders bought, and never the user's own coins;
- every open position of the running loop has a valid entry price (its price exits can run);
- the database equals the exchange for the bot's own orders once nothing is in flight;
- realised profit equals the money of the closed trades;
- no order is sent that Upbit must refuse for its 5,000 KRW minimum.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tradebot.core.krw_rules import MIN_ORDER_KRW, floor_volume, round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import ForceRefused, LiveLoop
from tradebot.engine.position_guards import PositionGuards
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatedTimeClock, SimulatorServer
from tradebot.exchange.upbit import (
    Credentials,
    OrderRequest,
    OrderSide,
    RateLimitRegistry,
    UpbitError,
    UpbitExchangeClient,
    UpbitSession,
)
from tradebot.services.health_monitor import GUARD, Guarding
from tradebot.services.records import CommandKind, CommandRequest, Mode, TradeAudit
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .conftest import START, NoWaitClock

USER = "prop"
ACCESS = "property-access-key"
SECRET = "property0secret0key0for0tests0only000000"  # noqa: S105 - a fake key for a fake server
USER_BTC = Decimal("0.01")  # the user's own coins, bought in the app before the bot started
MARKETS = ("KRW-BTC", "KRW-ETH")
MODES: tuple[Mode, ...] = ("TEST", "LIVE")
BOT_PREFIX = "tb."
MINIMUM_REFUSALS = {"under_min_total_bid", "under_min_total_ask"}


def _coin(market: str) -> str:
    return market.split("-", 1)[1]


class PositionMachine(RuleBasedStateMachine):
    """One LIVE/TEST user, one simulator, and a model of the coins that are the user's own."""

    def __init__(self) -> None:
        super().__init__()
        self.home = Path(tempfile.mkdtemp(prefix="tradebot-prop-"))
        accounts = [{"access_key": ACCESS, "secret_key": SECRET, "balances": _starting_balances()}]
        config = build_config(
            port=0, speed=0, start=START, history_days=1, markets=list(MARKETS), accounts=accounts,
            seed=7, rate_limits={"enforce": False},
        )  # fmt: skip
        self.server = SimulatorServer(config).start()
        self.admin = httpx.Client(
            base_url=self.server.base_url, timeout=10.0, headers=self.server.admin_headers
        )
        self.user_client = UpbitExchangeClient(Credentials(ACCESS, SECRET), self._session())
        self.user_coins: dict[str, Decimal] = defaultdict(Decimal, {"BTC": USER_BTC})
        self.user_orders = 0
        self.mode: Mode = "LIVE"
        self.market = "KRW-BTC"
        self.resources = ExitStack()
        self.drop_pending = False
        self.orders_seen_at_drop = 0
        _prepare_user(self.home)
        self.loop = self._start_loop()
        self.guard_resources = ExitStack()
        self.guards = PositionGuards(self._guard_loop, self._guard_request, lambda line: None)

    # --- plumbing -------------------------------------------------------------------------------

    def _session(self) -> UpbitSession:
        return UpbitSession(
            base_url=self.server.base_url, timeout=10.0, rate_limits=RateLimitRegistry(NoWaitClock()),
            attempts=2, backoff_seconds=0.0,
        )  # fmt: skip

    def _start_loop(self) -> LiveLoop:
        request = RunRequest(self.home, USER, self.mode, self.server.base_url, live_confirmed=True)
        session = self.resources.enter_context(self._session())
        loop = build_loop(request, SimulatedTimeClock(self.server), self.resources, session=session)
        loop.start()
        return loop

    def _guard_request(self, mode: Mode, market: str) -> RunRequest:
        return RunRequest(
            self.home, USER, mode, self.server.base_url, live_confirmed=True, guard_market=market
        )

    def _guard_loop(self, request: RunRequest, resources: ExitStack) -> LiveLoop:
        """The engine's guard of a position the running loop does not watch (as `UserRunner` builds it)."""
        session = resources.enter_context(self._session())
        return build_loop(request, SimulatedTimeClock(self.server), resources, session=session)

    def _check_guards(self) -> None:
        """What the engine's runner does after each loop cycle: guard every other open position."""
        with self._store() as store:
            held = [
                (position.mode, position.market)
                for mode in MODES
                for position in store.positions(mode)
                if position.origin == "bot"
            ]
        self.guards.check(held, (self.mode, self.market))

    def _restart(self) -> None:
        self.resources.close()
        self.resources = ExitStack()
        self.loop = self._start_loop()
        self._check_guards()

    def _admin(self, method: str, path: str, body: object | None = None) -> Any:
        response = self.admin.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    def _price(self, market: str) -> Decimal:
        state = self._admin("GET", "/_admin/state")
        for item in state["markets"] if isinstance(state.get("markets"), list) else []:
            if item.get("market") == market and "price" in item:
                return Decimal(str(item["price"]))
        [ticker] = httpx.get(f"{self.server.base_url}/v1/ticker", params={"markets": market}).json()
        return Decimal(str(ticker["trade_price"]))

    def _cycle(self) -> None:
        # The engine's runner retries an exchange error next cycle; the invariants hold meanwhile.
        with suppress(UpbitError):
            self.loop.cycle()
        self._check_guards()

    def _move(self, market: str, change: float) -> None:
        price = self._price(market) * Decimal(str(1 + change))
        self._admin("POST", "/_admin/price", {"market": market, "price": str(round_to_tick(price, up=False))})

    def _wallet(self) -> dict[str, dict[str, Decimal]]:
        for account in self._admin("GET", "/_admin/accounts"):
            if account["access_key"] == ACCESS:
                return {
                    item["currency"]: {key: Decimal(item[key]) for key in ("balance", "locked")}
                    for item in account["balances"]
                }
        raise AssertionError("the property account is gone")

    def _store(self) -> Store:
        return open_user_store(self.home, USER, create=False)

    def teardown(self) -> None:
        with self._store() as store:
            audits = store.trade_audits(limit=100_000)
        for audit in audits:
            event(f"audited {audit.cause} {audit.side} {audit.rule or ''}".strip())
        event(f"guards at the end: {len(self.guards.guarding())}")
        self.guards.close()
        self.resources.close()
        self.user_client.close()
        self.admin.close()
        self.server.stop(wait=True)
        shutil.rmtree(self.home, ignore_errors=True)

    # --- market and time ------------------------------------------------------------------------

    @rule(change=st.floats(min_value=-0.05, max_value=0.05), candles=st.integers(1, 3))
    def candles_close(self, change: float, candles: int) -> None:
        """The price moves and one to three candles close; the loop decides on each."""
        self._move(self.market, change)
        self._admin("POST", "/_admin/clock/step", {"seconds": 60 * candles})
        self._cycle()

    @rule(change=st.floats(min_value=-0.06, max_value=0.06), market=st.sampled_from(MARKETS))
    def price_between_closes(self, change: float, market: str) -> None:
        """A price check inside the forming candle (stop loss, take profit, trailing), any market."""
        self._move(market, change)
        self._admin("POST", "/_admin/clock/step", {"seconds": 5})
        self._cycle()

    # --- the user's own trading in the same account ------------------------------------------

    @rule(krw=st.integers(5_100, 40_000), market=st.sampled_from(MARKETS))
    def user_buys_in_the_app(self, krw: int, market: str) -> None:
        order = self._user_order(OrderRequest.market_buy(market, Decimal(krw), self._user_identifier()))
        if order is not None:
            self.user_coins[_coin(market)] += order.executed_volume

    @rule(fraction=st.floats(min_value=0.1, max_value=1.0), market=st.sampled_from(MARKETS))
    def user_sells_own_coins_in_the_app(self, fraction: float, market: str) -> None:
        coin = _coin(market)
        free = self._wallet().get(coin, {"balance": Decimal(0)})["balance"]
        volume = floor_volume(min(self.user_coins[coin], free) * Decimal(str(fraction)))
        if volume <= 0 or volume * self._price(market) < MIN_ORDER_KRW * 2:
            return
        order = self._user_order(OrderRequest.market_sell(market, volume, self._user_identifier()))
        if order is not None:
            self.user_coins[coin] -= order.executed_volume

    @rule(fraction=st.floats(min_value=0.2, max_value=0.9))
    def user_sells_own_and_some_of_the_bots_coins(self, fraction: float) -> None:
        """The user sells every own coin and part of the bot's: the bot's position shrinks (manual).

        Coins are fungible: while the wallet still holds the bot's volume, a sale is the user's own
        coins (TRADING_RULES.md v2); only what the wallet lacks of the bot's volume was the bot's.
        """
        coin = _coin(self.market)
        with self._store() as store:
            position = next((item for item in store.positions("LIVE") if item.market == self.market), None)
        free = self._wallet().get(coin, {"balance": Decimal(0)})["balance"]
        if position is None:
            return
        bots_part = floor_volume(position.volume * Decimal(str(fraction)))
        volume = min(free, self.user_coins[coin] + bots_part)
        if bots_part <= 0 or volume * self._price(self.market) < MIN_ORDER_KRW:
            return
        order = self._user_order(OrderRequest.market_sell(self.market, volume, self._user_identifier()))
        if order is None:
            return
        self.user_coins[coin] = max(self.user_coins[coin] - order.executed_volume, Decimal(0))
        for _ in range(2):  # the bot takes a shortfall on two reads in a row as a sale
            self._admin("POST", "/_admin/clock/step", {"seconds": 5})
            self._cycle()

    @rule(fraction=st.floats(min_value=0.5, max_value=0.99))
    def user_withdraws_krw(self, fraction: float) -> None:
        """KRW leaves the account (a withdrawal): small budgets, small positions, dust."""
        exchange = self.server.exchange
        with exchange.lock:
            holding = exchange.accounts[ACCESS].wallet.holding("KRW")
            holding.balance = floor_volume(holding.balance * Decimal(str(1 - fraction)))

    @rule(volume=st.decimals(min_value="0.0001", max_value="0.005", places=8))
    def user_deposits_coins(self, volume: Decimal) -> None:
        """Coins arrive by deposit: Upbit shows them with an average buy price of 0."""
        exchange = self.server.exchange
        with exchange.lock:
            exchange.accounts[ACCESS].wallet.credit("BTC", volume)
        self.user_coins["BTC"] += volume

    @rule(fraction=st.floats(min_value=0.1, max_value=0.9))
    def user_places_a_limit_sell_far_above(self, fraction: float) -> None:
        """The user's own resting order locks some of the user's coins (it is not a sale)."""
        free = self._wallet().get("BTC", {"balance": Decimal(0)})["balance"]
        volume = floor_volume(min(self.user_coins["BTC"], free) * Decimal(str(fraction)))
        price = round_to_tick(self._price("KRW-BTC") * 3, up=True)
        if volume <= 0 or volume * price < MIN_ORDER_KRW:
            return
        request = OrderRequest.limit("KRW-BTC", OrderSide.ASK, price, volume, self._user_identifier())
        self._user_order(request)

    def _user_identifier(self) -> str:
        self.user_orders += 1
        return f"user-app-{self.user_orders}"

    def _user_order(self, request: OrderRequest) -> Any:
        try:
            order = self.user_client.create_order(request)
        except UpbitError:
            return None
        found = self.user_client.find_order(request.identifier)
        return found if found is not None else order

    # --- the user's commands and settings --------------------------------------------------------

    @rule()
    def force_buy(self) -> None:
        with suppress(ForceRefused, UpbitError):
            self.loop.force("bid", self._command("force_buy"), USER, "property test")

    @rule()
    def force_sell(self) -> None:
        with suppress(ForceRefused, UpbitError):
            self.loop.force("ask", self._command("force_sell"), USER, "property test")

    def _command(self, kind: CommandKind) -> int:
        """The command row a force is audited against (the engine claims it from the dashboard)."""
        request = CommandRequest(
            kind=kind, requested_by=USER, requested_at=datetime.now(UTC), args={"reason": "property test"}
        )
        with self._store() as store, store.transaction() as transaction:
            return transaction.submit_command(request)

    @rule(
        stop=st.sampled_from([0.01, 0.02, 0.03, 0.07]),
        take=st.sampled_from([0.01, 0.03, 0.05]),
        trail=st.sampled_from([0.01, 0.02, 0.04]),
    )
    def user_changes_exit_values(self, stop: float, take: float, trail: float) -> None:
        _update_params(self.home, stop_loss=stop, take_profit=take, trailing_stop=trail)

    @rule(market=st.sampled_from(MARKETS))
    def user_changes_market_and_restarts(self, market: str) -> None:
        _update_params(self.home, market=market)
        self.market = market
        self._restart()

    @rule(interval=st.sampled_from(["minute1", "minute3"]))
    def user_changes_interval_and_restarts(self, interval: str) -> None:
        _update_params(self.home, interval=interval)
        self._restart()

    @rule()
    def user_switches_mode_and_restarts(self) -> None:
        self.mode = "TEST" if self.mode == "LIVE" else "LIVE"
        self._restart()

    @rule()
    def engine_restarts(self) -> None:
        self._restart()

    @precondition(lambda self: not self.drop_pending)
    @rule()
    def next_order_answer_is_lost(self) -> None:
        """The exchange executes the next order but its answer never arrives."""
        body = {"kind": "drop", "method": "POST", "path": "/v1/orders", "count": 1}
        self.orders_seen_at_drop = len(self._admin("GET", f"/_admin/orders?access_key={ACCESS}"))
        self._admin("POST", "/_admin/faults/next", body)
        self.drop_pending = True

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def money_is_safe(self) -> None:
        """Every invariant on one snapshot of the exchange and the database (one read of each)."""
        orders: list[dict[str, Any]] = self._admin("GET", f"/_admin/orders?access_key={ACCESS}")
        if len(orders) > self.orders_seen_at_drop:
            self.drop_pending = False  # an order reached the exchange: the dropped answer is used up
        bot_orders = [order for order in orders if order.get("identifier", "").startswith(BOT_PREFIX)]
        wallet = self._wallet()
        with self._store() as store:
            _no_order_sent_twice(bot_orders)
            _bot_never_sells_more_than_it_bought(bot_orders)
            _users_own_coins_untouched(wallet, self.user_coins, store)
            _open_positions_have_valid_entries(store)
            _every_position_is_guarded(store, self.guards.guarding(), (self.mode, self.market))
            _no_order_below_the_minimum(store)
            if not self.drop_pending:
                _database_equals_exchange(bot_orders, store)
            _realised_profit_equals_closed_trades(store)


def _no_order_sent_twice(bot_orders: list[dict[str, Any]]) -> None:
    identifiers = [order["identifier"] for order in bot_orders]
    assert len(identifiers) == len(set(identifiers)), identifiers
    filled: dict[tuple[str, str], int] = defaultdict(int)
    for order in bot_orders:
        if Decimal(order["executed_volume"]) > 0:
            filled[(order["identifier"].rsplit(".", 1)[0], order["side"])] += 1
    assert all(count == 1 for count in filled.values()), filled


def _bot_never_sells_more_than_it_bought(bot_orders: list[dict[str, Any]]) -> None:
    bought: dict[str, Decimal] = defaultdict(Decimal)
    sold: dict[str, Decimal] = defaultdict(Decimal)
    for order in bot_orders:
        book = bought if order["side"] == "bid" else sold
        book[order["market"]] += Decimal(order["executed_volume"])
    for market, volume in sold.items():
        assert volume <= bought[market], (
            f"{market}: the bot sold {volume}, its orders bought {bought[market]}"
        )


def _users_own_coins_untouched(
    wallet: dict[str, dict[str, Decimal]], user_coins: dict[str, Decimal], store: Store
) -> None:
    positions = {position.market: position.volume for position in store.positions("LIVE")}
    for coin, own in user_coins.items():
        held = wallet.get(coin, {"balance": Decimal(0), "locked": Decimal(0)})
        total = held["balance"] + held["locked"]
        assert total >= own, f"{coin}: the wallet holds {total}, the user's own coins are {own}"
        bot = positions.get(f"KRW-{coin}", Decimal(0))
        assert total - own >= bot, f"{coin}: the bot's {bot} is not backed by coins its orders bought"


def _open_positions_have_valid_entries(store: Store) -> None:
    for mode in MODES:
        for position in store.positions(mode):
            assert position.volume > 0, position
            assert position.entry_price is not None, position
            assert position.entry_price > 0, position


def _every_position_is_guarded(
    store: Store, guarding: dict[tuple[Mode, str], Guarding], covered: tuple[Mode, str]
) -> None:
    """The running loop watches its own (mode, market); a working guard watches every other one."""
    for mode in MODES:
        for position in store.positions(mode):
            key = (position.mode, position.market)
            if position.origin != "bot" or key == covered:
                continue
            found = guarding.get(key)
            assert found is not None, f"nothing guards the {key} position"
            assert (found.by, found.problem) == (GUARD, None), (key, found)


def _no_order_below_the_minimum(store: Store) -> None:
    rows = store.query("SELECT identifier, error_name FROM orders WHERE error_name IS NOT NULL")
    refused = [
        (row["identifier"], row["error_name"]) for row in rows if row["error_name"] in MINIMUM_REFUSALS
    ]
    assert not refused, refused


def _database_equals_exchange(bot_orders: list[dict[str, Any]], store: Store) -> None:
    for order in bot_orders:
        recorded = store.order(order["identifier"])
        assert recorded is not None, f"{order['identifier']} is at the exchange but not in the database"
        if recorded.state == "done":
            assert recorded.executed_volume == Decimal(order["executed_volume"]), order["identifier"]


def _realised_profit_equals_closed_trades(store: Store) -> None:
    """Per mode and market, each round trip's realised profits add up to its money in minus out."""
    trips: dict[tuple[str, str], _RoundTrip] = defaultdict(_RoundTrip)
    for audit in store.trade_audits(limit=100_000):  # oldest first
        trip = trips[(audit.mode, audit.market)]
        trip.add(audit)
        if trip.volume == 0:
            trip.check()
            trips[(audit.mode, audit.market)] = _RoundTrip()


class _RoundTrip:
    """The bot's fills from flat to flat in one market (trips touched by the user are not checked)."""

    def __init__(self) -> None:
        self.volume = Decimal(0)
        self.cash = Decimal(0)
        self.profit = Decimal(0)
        self.touched_by_user = False

    def add(self, audit: TradeAudit) -> None:
        funds = audit.fill_price * audit.volume
        if audit.cause == "manual":
            self.touched_by_user = True
        if audit.side == "bid":
            self.volume += audit.volume
            self.cash -= funds + audit.fee
            return
        self.volume -= audit.volume
        self.cash += funds - audit.fee
        if audit.cause != "manual":
            assert audit.realised_profit is not None, audit
            self.profit += audit.realised_profit

    def check(self) -> None:
        if not self.touched_by_user:  # a round trip of the bot's own fills only
            assert abs(self.profit - self.cash) <= 1, f"realised {self.profit} KRW, money says {self.cash}"


def _starting_balances() -> dict[str, str]:
    return {"KRW": "1000000", "BTC": str(USER_BTC)}


def _prepare_user(home: Path) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    save_keys(home, USER, UpbitKeys(ACCESS, SECRET), datetime.now(UTC))
    _update_params(
        home, interval="minute1", fast_period=3, slow_period=6, signal_period=3, warmup_bars=9,
        take_profit=0.03, stop_loss=0.02, trailing_stop=0.02, order_ratio=0.3, min_holding_bars=1,
    )  # fmt: skip
    conditions = json.loads(conditions_path(home, USER).read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    conditions_path(home, USER).write_text(json.dumps(conditions))


def _update_params(home: Path, **changes: object) -> None:
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(changes)
    path.write_text(json.dumps(params))


# `make test` runs a short version; `TRADEBOT_PROPERTY_EXAMPLES=200 pytest ...` (or `make soak`) a long one.
PositionMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("TRADEBOT_PROPERTY_EXAMPLES", "12")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPositionsStayMoneySafe = PositionMachine.TestCase
