"""A LIVE trading loop in a real child process, killed with SIGKILL and restarted, against a simulator.

The simulator runs in the test process. In the campaign its clock runs fast, so minute candles
close every fraction of a second; in the aimed scenarios (`SteppedRun`) it is stopped and the test
closes candles and sets prices itself. The loop is `python -m tradebot run --mode live` in a child
process with its own `TRADEBOT_HOME`; the harness kills it at chosen moments, restarts it, and
finally compares the user's database with the simulated account: orders, fills, audit rows and
balances. The orders endpoint can be stalled (the simulator's `timeout` fault: the request is held,
then processed even if its client has gone), which puts a kill between sending and placing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx

from tradebot.core.krw_rules import round_to_tick
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.services.paths import database_path
from tradebot.services.records import TradeAudit
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

USER = "alice"
MARKET = "KRW-BTC"
COIN = "BTC"
ACCESS_KEY = "crash-access-key"
SECRET_KEY = "crash0secret0key0for0tests0only000000000"  # noqa: S105 - a fake key for a fake exchange
STARTING_KRW = Decimal(1_000_000)
# 150 simulated seconds per real second: a minute candle closes every 0.4 s.
SIMULATOR_SPEED = 150.0
CYCLE_SECONDS = "0.1"  # the loop's real-time cycle (the least `tradebot run` accepts)
POLL_SECONDS = 0.01
ORDER_WAIT_SECONDS = 20.0  # how long a targeted kill waits for the loop's next order
UNFINISHED_STATES = frozenset({"requested", "wait", "watch"})

KillKind = Literal["random", "placed", "in_flight"]


class HarnessError(RuntimeError):
    """The scenario could not be set up (not a finding about the engine)."""


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """An order as the simulator holds it."""

    identifier: str
    uuid: str
    side: str
    state: str
    executed_volume: Decimal
    paid_fee: Decimal


@dataclass(frozen=True, slots=True)
class RecordedOrder:
    """An order row of the user's database."""

    identifier: str
    uuid: str | None
    side: str
    state: str
    executed_volume: Decimal | None
    paid_fee: Decimal | None
    error_name: str | None


@dataclass(frozen=True, slots=True)
class Kill:
    """One SIGKILL: what was aimed at and what the database held right after it."""

    number: int
    kind: KillKind
    seconds_alive: float
    alive_before_kill: bool
    exit_code: int | None
    requested_orders: tuple[str, ...]  # orders the database held as `requested` after the kill
    landed_between_placing_and_recording: bool

    def describe(self) -> str:
        where = "between placing and recording" if self.landed_between_placing_and_recording else "elsewhere"
        return f"kill {self.number} ({self.kind}, {self.seconds_alive:.2f} s after start, {where})"


@dataclass(frozen=True, slots=True)
class Outcome:
    """Both sides after the last, clean stop."""

    exchange_orders: list[ExchangeOrder]
    exchange_krw: Decimal
    exchange_coin: Decimal
    recorded_orders: dict[str, RecordedOrder]
    audits: list[TradeAudit]
    recorded_krw: Decimal
    starting_krw: Decimal
    recorded_coin: Decimal
    kills: list[Kill] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the newest loop logs, for assertion messages."""
        text = []
        for path in self.logs[-3:]:
            content = path.read_text(errors="replace").splitlines()[-lines:]
            text.append(f"--- {path.name}\n" + "\n".join(content))
        return "\n".join(text)


# --- the exchange ---------------------------------------------------------------------------------


class Exchange:
    """The simulator on a running clock, and its admin endpoints."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.admin = httpx.Client(base_url=server.base_url, timeout=10.0, headers=server.admin_headers)

    @property
    def base_url(self) -> str:
        url: str = self.server.base_url
        return url

    def _call(self, method: str, path: str, body: object | None = None) -> Any:
        response = self.admin.request(method, path, json=body)
        if not response.is_success:
            raise HarnessError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def order_count(self) -> int:
        for account in self._call("GET", "/_admin/accounts"):
            if account["access_key"] == ACCESS_KEY:
                count: int = account["orders"]
                return count
        raise HarnessError(f"no account {ACCESS_KEY}")

    def orders(self) -> list[ExchangeOrder]:
        documents = self._call("GET", f"/_admin/orders?access_key={ACCESS_KEY}")
        return [
            ExchangeOrder(
                identifier=document.get("identifier", ""),
                uuid=document["uuid"],
                side=document["side"],
                state=document["state"],
                executed_volume=Decimal(document["executed_volume"]),
                paid_fee=Decimal(document["paid_fee"]),
            )
            for document in documents
        ]

    def balances(self) -> dict[str, Decimal]:
        """Balance plus locked, per currency."""
        for account in self._call("GET", "/_admin/accounts"):
            if account["access_key"] == ACCESS_KEY:
                return {
                    item["currency"]: Decimal(item["balance"]) + Decimal(item["locked"])
                    for item in account["balances"]
                }
        raise HarnessError(f"no account {ACCESS_KEY}")

    def stall_next_order(self) -> None:
        """The next `POST /v1/orders` waits `timeout_seconds`, then is processed (client or not)."""
        body = {"kind": "timeout", "method": "POST", "path": "/v1/orders", "count": 1}
        self._call("POST", "/_admin/faults/next", body)

    def stall_pending(self) -> bool:
        """True while a scheduled stall has not hit an order yet."""
        return bool(self._call("GET", "/_admin/state")["scheduled_faults"])

    def set_stall_seconds(self, seconds: float) -> None:
        """No scheduled or random faults; stalls last `seconds`."""
        self._call("DELETE", "/_admin/faults")
        self._call("PUT", "/_admin/faults", {"timeout_seconds": seconds})

    def step(self, seconds: float) -> None:
        """Move a stopped clock forward."""
        self._call("POST", "/_admin/clock/step", {"seconds": seconds})

    def set_price(self, price: Decimal) -> None:
        """Make `price` the last trade price (the forming candle's close) from now on."""
        self._call("POST", "/_admin/price", {"market": MARKET, "price": str(price)})

    def forming_candle(self) -> dict[str, Any]:
        """The newest minute candle (still forming on a stopped clock), as Upbit sends it."""
        [candle] = self._call("GET", f"/v1/candles/minutes/1?market={MARKET}&count=1")
        return dict(candle)

    def close(self) -> None:
        self.admin.close()


@contextmanager
def running_exchange(
    *, seed: int, stall_seconds: float = 1.0, speed: float = SIMULATOR_SPEED, ahead: timedelta = timedelta(0)
) -> Iterator[Exchange]:
    """A simulator whose clock starts `ahead` of the real time and runs `speed` times faster.

    The loop judges whether a candle closed by the later of its own (real) clock and the
    exchange's newest trade time, so the simulated time must never lag the real one: a stopped
    clock (speed 0) must start ahead by more than the test lasts.
    """
    config = build_config(
        port=0,
        speed=speed,
        start=datetime.now(UTC) + ahead,
        history_days=1,
        markets=[MARKET],
        seed=seed,
        accounts=[
            {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "balances": {"KRW": str(STARTING_KRW)}}
        ],
        rate_limits={"enforce": False},
        faults={"timeout_seconds": stall_seconds},
    )
    server = SimulatorServer(config).start()
    exchange = Exchange(server)
    try:
        yield exchange
    finally:
        exchange.close()
        server.stop()


# --- the user and the loop process ----------------------------------------------------------------


def prepare_user(home: Path) -> None:
    """User, LIVE keys and settings that trade every few candles.

    Entry on any bullish candle; exits at +-0.3 % or 0.2 % under the peak, checked on every tick,
    so positions open and close within a few candles and both the candle-close and the
    between-closes order paths run often.
    """
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(
        market=MARKET, interval="minute1", warmup_bars=40, take_profit=0.003, stop_loss=0.003,
        trailing_stop=0.002, order_ratio=0.5, price_exit_check="tick",
    )  # fmt: skip
    path.write_text(json.dumps(params))
    path = conditions_path(home, USER)
    conditions = json.loads(path.read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    path.write_text(json.dumps(conditions))
    save_keys(home, USER, UpbitKeys(ACCESS_KEY, SECRET_KEY), datetime.now(UTC))


class LoopProcess:
    """`tradebot run --mode live` in a child process, its output in a log file."""

    def __init__(self, home: Path, exchange_url: str, log: Path) -> None:
        self.log = log
        command = [
            sys.executable, "-m", "tradebot", "run", "--user", USER, "--mode", "live", "--confirm-live",
            "--exchange-url", exchange_url, "--cycle-seconds", CYCLE_SECONDS,
        ]  # fmt: skip
        environment = dict(os.environ, TRADEBOT_HOME=str(home), PYTHONUNBUFFERED="1")
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                command, env=environment, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.started = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> int:
        """SIGKILL and reap; the exit code (-9 unless it had already ended)."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM: the loop finishes its cycle and exits cleanly."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def status_lines(self) -> int:
        """How many cycle status lines the loop has printed."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if line.startswith("["))


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` every POLL_SECONDS for at most `seconds`; its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


# --- reading the database -------------------------------------------------------------------------


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def _read(home: Path, sql: str, parameters: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of the user's database, read-only (the loop may be writing)."""
    uri = f"file:{database_path(home, USER)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
        return connection.execute(sql, parameters).fetchall()


def recorded_orders(home: Path) -> dict[str, RecordedOrder]:
    """Every order row, by identifier."""
    rows = _read(
        home, "SELECT identifier, uuid, side, state, executed_volume, paid_fee, error_name FROM orders"
    )
    return {
        row[0]: RecordedOrder(row[0], row[1], row[2], row[3], _decimal(row[4]), _decimal(row[5]), row[6])
        for row in rows
    }


def requested_orders(home: Path) -> tuple[str, ...]:
    return tuple(sorted(key for key, order in recorded_orders(home).items() if order.state == "requested"))


def read_outcome(exchange: Exchange, home: Path, kills: list[Kill], logs: list[Path]) -> Outcome:
    balances = exchange.balances()
    with open_user_store(home, USER) as store:
        account = store.account("LIVE")
        if account is None:
            raise HarnessError("the loop never recorded a LIVE account")
        positions = [item for item in store.positions("LIVE") if item.market == MARKET]
        audits = store.trade_audits(limit=1_000_000)
    return Outcome(
        exchange_orders=exchange.orders(),
        exchange_krw=balances.get("KRW", Decimal(0)),
        exchange_coin=balances.get(COIN, Decimal(0)),
        recorded_orders=recorded_orders(home),
        audits=audits,
        recorded_krw=account.krw_balance,
        starting_krw=account.starting_krw,
        recorded_coin=positions[0].volume if positions else Decimal(0),
        kills=kills,
        logs=logs,
    )


# --- the campaign ---------------------------------------------------------------------------------


@dataclass
class Campaign:
    """Start, kill and restart the loop; `plan` says where each kill aims."""

    exchange: Exchange
    home: Path
    rng: random.Random
    stall_seconds: float
    kills: list[Kill] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self) -> LoopProcess:
        log = self.home / f"loop-{len(self.logs):02d}.log"
        self.logs.append(log)
        return LoopProcess(self.home, self.exchange.base_url, log)

    def run(self, plan: list[KillKind]) -> Outcome:
        for kind in plan:
            self.kill_once(kind)
        final = self.start()
        # A few cycles after start(): interrupted orders are finished and the loop trades again.
        wait_until(lambda: final.status_lines() >= 10 or not final.alive, 30)
        exit_code = final.stop()
        if exit_code != 0:
            raise HarnessError(f"the last run ended with {exit_code}:\n{final.log.read_text()}")
        return read_outcome(self.exchange, self.home, self.kills, self.logs)

    def kill_once(self, kind: KillKind) -> None:
        orders_before = self.exchange.order_count()
        if kind == "in_flight":
            self.exchange.stall_next_order()
        process = self.start()
        if kind == "random":
            # Covers start-up, resuming, warm-up and trading: imports alone take ~0.9 s.
            wait_until(lambda: not process.alive, self.rng.uniform(0.3, 2.5))
        elif kind == "placed":
            # The order is on the exchange; the loop waits 0.25 s before asking for its fills.
            wait_until(
                lambda: self.exchange.order_count() > orders_before or not process.alive, ORDER_WAIT_SECONDS
            )
        else:
            # The stalled POST /v1/orders is in the server: the order is not placed yet, but will be.
            wait_until(lambda: not self.exchange.stall_pending() or not process.alive, ORDER_WAIT_SECONDS)
        alive = process.alive
        seconds_alive = time.monotonic() - process.started
        exit_code = process.kill()
        requested = requested_orders(self.home)
        on_exchange = {order.identifier for order in self.exchange.orders()}
        # Placed but not recorded: the exchange has it, the database still says `requested`.
        between = any(identifier in on_exchange for identifier in requested)
        if kind == "in_flight":
            if self.exchange.stall_pending():
                self.exchange.set_stall_seconds(self.stall_seconds)  # no order came: drop the stall
            else:
                # Sent but not placed yet: it will be, after the stall.
                between = between or any(identifier not in on_exchange for identifier in requested)
                # Restart only once the stalled order has been processed (or refused), as a
                # supervisor's restart delay would; restarting earlier is its own test.
                count = len(on_exchange)
                wait_until(lambda: self.exchange.order_count() > count, self.stall_seconds + 2)
        kill = Kill(len(self.kills) + 1, kind, seconds_alive, alive, exit_code, requested, between)
        self.kills.append(kill)


def kill_plan(kills: int) -> list[KillKind]:
    """Half at random moments; the rest aimed between placing an order and recording it."""
    pattern: list[KillKind] = ["random", "placed", "random", "in_flight"]
    return [pattern[number % len(pattern)] for number in range(kills)]


# --- the checks -----------------------------------------------------------------------------------


def order_slot(identifier: str) -> str:
    """`tb.user.mode.market.candle.side` of `tb.user.mode.market.candle.side.attempt`."""
    return identifier.rsplit(".", 1)[0]


def doubled_orders(outcome: Outcome) -> list[str]:
    """Identifiers used twice, and (candle, side) slots with more than one order on the exchange."""
    identifiers = Counter(order.identifier for order in outcome.exchange_orders)
    slots = Counter(order_slot(order.identifier) for order in outcome.exchange_orders)
    problems = [f"identifier {key} used {count} times" for key, count in identifiers.items() if count > 1]
    problems += [f"{count} exchange orders for {key}" for key, count in slots.items() if count > 1]
    problems += [
        f"order without the bot's identifier: {order}"
        for order in outcome.exchange_orders
        if not order.identifier
    ]
    return problems


def unrecorded_orders(outcome: Outcome) -> list[str]:
    """Exchange orders the database lacks, holds as unfinished, or records with another fill."""
    problems = []
    for order in outcome.exchange_orders:
        recorded = outcome.recorded_orders.get(order.identifier)
        if recorded is None:
            problems.append(f"{order.identifier}: on the exchange ({order.state}), not in the database")
            continue
        filled = order.executed_volume > 0
        expected_state = "done" if filled else "rejected"
        if recorded.state != expected_state:
            problems.append(
                f"{order.identifier}: exchange {order.state} with {order.executed_volume} filled, "
                f"database {recorded.state} ({recorded.error_name})"
            )
        elif filled and (
            recorded.executed_volume != order.executed_volume
            or recorded.paid_fee != order.paid_fee
            or recorded.uuid != order.uuid
        ):
            problems.append(f"{order.identifier}: exchange {order}, database {recorded}")
    on_exchange = {order.identifier for order in outcome.exchange_orders}
    for identifier, recorded in outcome.recorded_orders.items():
        if recorded.state in UNFINISHED_STATES:
            problems.append(f"{identifier}: still {recorded.state} after a clean stop")
        elif identifier not in on_exchange and recorded.state != "rejected":
            problems.append(f"{identifier}: {recorded.state} in the database, unknown to the exchange")
    return problems


def audit_problems(outcome: Outcome) -> list[str]:
    """Each fill exactly one audit row with its side and volume; no other strategy/recovery rows."""
    filled = {order.identifier: order for order in outcome.exchange_orders if order.executed_volume > 0}
    audited = Counter(audit.order_identifier for audit in outcome.audits if audit.cause != "manual")
    problems = [
        f"{identifier}: {audited[identifier]} audit rows for one fill"
        for identifier in filled
        if audited[identifier] != 1
    ]
    problems += [
        f"audit row for {identifier}, which did not fill on the exchange"
        for identifier in audited
        if identifier not in filled
    ]
    for audit in outcome.audits:
        order = filled.get(audit.order_identifier or "")
        if order is not None and (audit.side != order.side or audit.volume != order.executed_volume):
            problems.append(f"{audit.order_identifier}: audit {audit.side} {audit.volume}, exchange {order}")
    return problems


def manual_audits(outcome: Outcome) -> list[str]:
    """Audit rows that took the bot's own trades for trades made outside it."""
    return [
        f"manual {audit.side} {audit.volume}: {audit.note}"
        for audit in outcome.audits
        if audit.cause == "manual"
    ]


def balance_problems(outcome: Outcome) -> list[str]:
    """Database KRW and coin against the account, and against the audited cash flows."""
    problems = []
    if outcome.recorded_krw != outcome.exchange_krw:
        problems.append(f"KRW: database {outcome.recorded_krw}, exchange {outcome.exchange_krw}")
    if outcome.recorded_coin != outcome.exchange_coin:
        problems.append(f"{COIN}: database {outcome.recorded_coin}, exchange {outcome.exchange_coin}")
    flows = outcome.starting_krw
    for audit in outcome.audits:
        funds = audit.fill_price * audit.volume
        flows += -(funds + audit.fee) if audit.side == "bid" else funds - audit.fee
    if abs(flows - outcome.exchange_krw) > Decimal(1):  # fill prices are averages: allow rounding
        problems.append(f"KRW by the audit rows {flows}, exchange {outcome.exchange_krw}")
    return problems


def candles_traded_both_ways(outcome: Outcome) -> list[str]:
    """Candles with a filled buy and a filled sell: a candle that closed a position opened one."""
    sides: dict[str, set[str]] = {}
    for order in outcome.exchange_orders:
        if order.executed_volume > 0:
            candle = order_slot(order.identifier).rsplit(".", 1)[0]
            sides.setdefault(candle, set()).add(order.side)
    return [f"{candle}: bought and sold" for candle, both in sides.items() if len(both) > 1]


# --- scenarios on a stopped clock: the test decides when candles close and at what price ---------


def _position_volume(home: Path) -> Decimal:
    rows = _read(home, "SELECT volume FROM coin_position WHERE mode = 'LIVE' AND market = ?", (MARKET,))
    return Decimal(rows[0][0]) if rows else Decimal(0)


def _entry_price(home: Path) -> Decimal:
    rows = _read(home, "SELECT entry_price FROM coin_position WHERE mode = 'LIVE' AND market = ?", (MARKET,))
    if not rows or rows[0][0] is None:
        raise HarnessError("no position with an entry price")
    return Decimal(rows[0][0])


def _last_closed_candle(home: Path) -> int | None:
    rows = _read(home, "SELECT last_closed_candle FROM engine_status")
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


class SteppedRun:
    """The loop in a child process against a simulator whose clock only moves when stepped."""

    def __init__(self, exchange: Exchange, home: Path) -> None:
        self.exchange, self.home = exchange, home
        self.campaign = Campaign(exchange, home, random.Random(0), 1.0)
        self.process = self.restart(kill=False)
        for _ in range(2):  # past the warm-up
            self.close_candle()

    def restart(self, *, kill: bool = True) -> LoopProcess:
        """(SIGKILL the loop and) start it; returns once it has finished start() and cycled."""
        if kill:
            self.process.kill()
        process = self.campaign.start()
        if not wait_until(lambda: process.status_lines() >= 1 or not process.alive, 20):
            raise HarnessError(f"the loop did not start:\n{process.log.read_text()}")
        self.process = process
        return process

    def make_bullish(self, floor: Decimal = Decimal(0)) -> None:
        """Set the forming candle's close (the price from now on) 1 % above its open and `floor`."""
        opening = Decimal(str(self.exchange.forming_candle()["opening_price"]))
        self.exchange.set_price(round_to_tick(max(opening, floor) * Decimal("1.01"), up=True))

    def close_candle(self, *, wait: bool = True) -> None:
        """Step a minute; with `wait`, until the loop has decided on the closed candle and cycled."""
        before = _last_closed_candle(self.home)
        self.exchange.step(60)
        if wait:
            self.expect(lambda: _last_closed_candle(self.home) != before, "the closed candle's decision")

    def expect(self, condition: Callable[[], bool], what: str) -> None:
        if not wait_until(lambda: condition() or not self.process.alive, 10) or not self.process.alive:
            raise HarnessError(f"{what} did not happen:\n{self.process.log.read_text()}")

    def stop(self) -> Outcome:
        exit_code = self.process.stop()
        if exit_code != 0:
            raise HarnessError(f"the loop ended with {exit_code}:\n{self.process.log.read_text()}")
        return read_outcome(self.exchange, self.home, self.campaign.kills, self.campaign.logs)


@dataclass(frozen=True, slots=True)
class EarlyRestart:
    """A kill while a buy is stalled in the server, and a restart that finishes before it lands."""

    outcome: Outcome
    stalled: str  # the identifier the database held as `requested` after the kill
    state_when_landed: str  # that order's database state when the exchange placed it


def restart_before_order_lands(exchange: Exchange, home: Path) -> EarlyRestart:
    """Stall the buy of a bullish close, SIGKILL, restart, and let the stalled buy land afterwards.

    The exchange's stall (`timeout_seconds`) must outlast the loop's restart and start(). The clock
    stays stopped until the order has landed, so the restarted loop places no order of its own.
    """
    run = SteppedRun(exchange, home)
    exchange.stall_next_order()
    run.make_bullish()
    run.close_candle(wait=False)  # the loop blocks in the stalled buy
    run.expect(lambda: not exchange.stall_pending(), "a stalled buy")
    run.process.kill()
    requested = requested_orders(home)
    if len(requested) != 1:
        raise HarnessError(f"expected one requested order after the kill, found {requested}")
    [identifier] = requested
    run.restart(kill=False)
    on_exchange = [order.identifier for order in exchange.orders()]
    if identifier in on_exchange:
        raise HarnessError("the stalled buy landed before the restarted loop had started: stall too short")
    run.expect(lambda: any(order.identifier == identifier for order in exchange.orders()), "the landing")
    state = recorded_orders(home)[identifier].state
    run.close_candle()  # one more candle: the loop acts on what it believes it holds
    return EarlyRestart(run.stop(), identifier, state)


def sell_between_closes_then_close_bullish(exchange: Exchange, home: Path, *, kill: bool) -> Outcome:
    """Buy, take profit between closes, (SIGKILL at once and restart,) then close that candle bullish.

    The entry rule (a bullish candle) holds on the candle during which the position was sold;
    TRADING_RULES.md: "a candle that closed a position does not also open one".
    """
    run = SteppedRun(exchange, home)
    run.make_bullish()
    run.close_candle()
    run.expect(lambda: _position_volume(home) > 0, "a buy on a bullish candle")
    run.make_bullish(_entry_price(home))  # take-profit at the next tick, and a bullish forming candle
    run.expect(lambda: _position_volume(home) == 0, "a take-profit between closes")
    if kill:
        run.restart()
    run.close_candle()
    run.close_candle()
    return run.stop()
