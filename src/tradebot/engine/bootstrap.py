"""Assembling one user's loop (store, settings, feed, broker, order desk) and running it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tradebot.core.advisor import EntryAdvisorProtocol
from tradebot.core.broker import Broker
from tradebot.core.clock import Clock, wait_until
from tradebot.core.errors import SettingsError, TradebotError
from tradebot.core.params import StrategyParams
from tradebot.engine.live_loop import LiveLoop
from tradebot.engine.loop_types import CycleReport
from tradebot.engine.market_feed import MarketFeed
from tradebot.engine.market_list import MarketList
from tradebot.engine.order_desk import OrderDesk
from tradebot.engine.paper_ledger import RecordedPaperBroker
from tradebot.engine.safeguard_gate import OPEN_GATE, EntryGate, SafeguardGate
from tradebot.engine.settings_watch import SettingsWatcher
from tradebot.engine.shared_feed import Quotations
from tradebot.exchange.account_reads import CycleAccounts
from tradebot.exchange.live_broker import LiveBroker
from tradebot.exchange.upbit import (
    Credentials,
    UpbitError,
    UpbitExchangeClient,
    UpbitQuotationClient,
    UpbitSession,
)
from tradebot.services.paths import database_path
from tradebot.services.records import Mode
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.storage.store import WriteGate
from tradebot.services.user_admin import load_keys
from tradebot.services.users import conditions_path, params_path

CYCLE_SECONDS = 5.0
StoreOpener = Callable[[Path, str], Store]  # (home, username) -> the user's open database


def open_existing_store(home: Path, username: str) -> Store:
    """The user's database; a missing file is refused, never replaced by a new empty one."""
    if not database_path(home, username).exists():
        raise SettingsError(f"no user {username} in {home}; create it with: tradebot user add")
    return open_user_store(home, username, create=False)


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Whose loop to run, in which mode, against which exchange."""

    home: Path
    username: str
    mode: Mode
    exchange_url: str
    live_confirmed: bool = False
    guard_market: str | None = None  # a price-exit guard of the position in this market, not a loop
    # Around every write of the loop's database (the runner's lease: a replaced thread never writes).
    write_gate: WriteGate | None = field(default=None, compare=False)
    # The user's account read of this cycle, shared by its loop and guards (None: each reads its own).
    accounts: CycleAccounts | None = field(default=None, compare=False)


def build_loop(
    request: RunRequest,
    clock: Clock,
    resources: ExitStack,
    session: UpbitSession | None = None,
    quotations: Quotations | None = None,
    open_store: StoreOpener = open_existing_store,
    markets: MarketList | None = None,
) -> LiveLoop:
    """Open everything the loop needs; `resources` closes it all when the run ends.

    `session` replaces the HTTP session built from `request.exchange_url` (the engine shares one
    across users; tests pass one whose rate limiter runs on their clock), and `quotations` the
    market data source (the engine's `SharedQuotations`; by default the loop's own client).
    Neither is closed with the loop: their owner closes them. `open_store` opens the user's
    database (tests pass one with a short busy timeout or a size limit). A request with a
    `guard_market` builds the loop of that market's position, whatever the settings' market, for
    `LiveLoop.guard()` only (no entry advisor and no safeguard gate: a guard never buys).
    `markets` is the engine's shared Upbit market list (by default the loop reads its own).
    """
    store = resources.enter_context(open_store(request.home, request.username))
    if request.write_gate is not None:
        store.gate_writes(request.write_gate)
    if store.user(request.username) is None:
        raise SettingsError(
            f"no user {request.username} in {request.home}; create it with: tradebot user add"
        )
    watcher = SettingsWatcher(
        params_path(request.home, request.username), conditions_path(request.home, request.username)
    )
    params = watcher.load().params
    if session is None:
        session = resources.enter_context(UpbitSession(base_url=request.exchange_url))
    source = quotations if quotations is not None else UpbitQuotationClient(session)
    market = request.guard_market or params.market
    feed = MarketFeed(source, market, params.interval)
    broker = _broker(request, store, session, params.model_copy(update={"market": market}), clock)
    desk = OrderDesk(store, broker, clock, request.username, request.mode, market, params.interval)
    advisor = None if request.guard_market else _entry_advisor(request, store, clock)  # guards never buy
    gate: EntryGate = OPEN_GATE
    if not request.guard_market:
        markets = markets if markets is not None else MarketList(UpbitQuotationClient(session), clock)
        gate = SafeguardGate(markets, market, request.username, request.mode)
    return LiveLoop(
        store=store, feed=feed, desk=desk, clock=clock, watcher=watcher, mode=request.mode, advisor=advisor,
        gate=gate,
    )  # fmt: skip


def _entry_advisor(request: RunRequest, store: Store, clock: Clock) -> EntryAdvisorProtocol:
    """The optional AI entry advisor (off until the user enables it; it checks at every entry)."""
    # Imported here: it loads the OpenAI client, which `tradebot --help` and tests need not pay for.
    from tradebot.services.ai_review.advisor import EntryAdvisor  # noqa: PLC0415
    from tradebot.services.ai_review.setup import AiRuntime  # noqa: PLC0415

    return EntryAdvisor(store, request.username, AiRuntime(box=SecretBox.for_home(request.home), clock=clock))


def _broker(
    request: RunRequest, store: Store, session: UpbitSession, params: StrategyParams, clock: Clock
) -> Broker:
    if request.mode == "TEST":
        return RecordedPaperBroker(store, params.market)
    if not request.live_confirmed:
        raise SettingsError("LIVE mode trades real money: confirm with --confirm-live")
    keys = load_keys(store, SecretBox.for_home(request.home), request.username)
    if keys is None:
        raise SettingsError(f"no Upbit keys stored for {request.username}; run: tradebot user set-keys")
    client = UpbitExchangeClient(Credentials(keys.access_key, keys.secret_key), session)
    fee = client.get_order_chance(params.market).bid_fee
    return LiveBroker(client, params.market, clock, fee, request.accounts)


def run_loop(
    loop: LiveLoop,
    clock: Clock,
    stop: threading.Event,
    report: Callable[[str], None],
    cycle_seconds: float = CYCLE_SECONDS,
) -> None:
    """Start the loop and cycle every `cycle_seconds` until `stop` is set.

    Exchange errors are reported and retried next cycle (the price exits stay armed); anything
    else ends the run with the error, for the engine service to restart.
    """
    loop.start()
    next_cycle = clock.monotonic()
    while not stop.is_set():
        try:
            report(_status_line(loop.cycle()))
        except UpbitError as error:
            report(f"exchange error, retrying next cycle: {error}")
        except TradebotError as error:
            report(f"error: {error}")
            raise
        next_cycle += cycle_seconds
        wait_until(clock, stop, next_cycle)


def _status_line(report: CycleReport) -> str:
    price = f"{report.price:,}" if report.price is not None else "-"
    head = f"[{report.state}] price {price} KRW, {report.closed_candles} closed candle(s)"
    return "\n".join([head, *(f"  {line}" for line in report.decisions)])
