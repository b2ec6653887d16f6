"""The checks and figures of a soak run (`soak_harness.soak`): each check a list of problems.

- crash: the engine died, SIGTERM did not end it with 0, or its log has "loop crashed" lines;
- duplicate: an identifier twice at the simulator or in a database, two exchange orders (or two
  filled database orders) for one (user, candle, side) slot;
- lost_fill: an exchange order the database lacks, holds unfinished or records with another volume,
  fee or uuid; a filled database order the exchange does not know;
- audit: a fill without exactly one audit row, or the bot's own trade taken for a manual one;
- candles: a candle evaluated twice, or a minute skipped that the simulator did have;
- mismatch: a LIVE database's KRW or coin against the simulator's balance + locked, to the unit; a
  TEST position against its audited fills;
- blocked_418: any 418, in the engine's health file or the simulator's counts;
- liveness: the engine could not settle, or a user stopped evaluating candles.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tradebot.services.records import TradeAudit
from tradebot.services.storage import open_user_store

from .crash_harness import RecordedOrder, order_slot
from .soak_harness import UNFINISHED, SoakRun, SoakUser
from .soak_processes import read_rows

CATEGORIES = ("crash", "duplicate", "lost_fill", "audit", "candles", "mismatch", "blocked_418", "liveness")
MINUTE = timedelta(minutes=1)
CRASH_LINE = re.compile(r"^\S+: loop crashed \(")
WATCHDOG_LINE = ": the loop is asked to stop; its thread restarts it"  # UserRunner.check_stall


@dataclass(frozen=True, slots=True)
class UserRecord:
    """What one user's database holds after the run."""

    identifiers: list[str]
    orders: dict[str, RecordedOrder]
    audits: list[TradeAudit]
    buy_starts: list[datetime]
    sell_starts: list[datetime]  # closed-candle sell evaluations (not the between-closes ones)
    krw: Decimal | None
    coin: Decimal


def _time(nanos: int) -> datetime:
    return datetime.fromtimestamp(nanos / 10**9, UTC)


def _decimal(text: str | None) -> Decimal | None:
    return Decimal(text) if text is not None else None


def read_user(run: SoakRun, user: SoakUser) -> UserRecord:
    rows = read_rows(
        run.home, user.name,
        "SELECT identifier, uuid, side, state, executed_volume, paid_fee, error_name FROM orders ORDER BY id",
    )  # fmt: skip
    orders = {
        row[0]: RecordedOrder(row[0], row[1], row[2], row[3], _decimal(row[4]), _decimal(row[5]), row[6])
        for row in rows
    }
    buys = read_rows(
        run.home, user.name, "SELECT candle_start FROM buy_eval WHERE market = ?", (user.market,)
    )
    sells = read_rows(
        run.home, user.name,
        "SELECT candle_start FROM sell_eval WHERE market = ? AND trigger_kind = 'close'", (user.market,),
    )  # fmt: skip
    with open_user_store(run.home, user.name) as store:
        account = store.account(user.mode)
        position = next((item for item in store.positions(user.mode) if item.market == user.market), None)
        audits = store.trade_audits(limit=1_000_000)
    return UserRecord(
        identifiers=[row[0] for row in rows], orders=orders, audits=audits,
        buy_starts=[_time(row[0]) for row in buys], sell_starts=[_time(row[0]) for row in sells],
        krw=account.krw_balance if account else None, coin=position.volume if position else Decimal(0),
    )  # fmt: skip


# --- the checks -----------------------------------------------------------------------------------


def crash_problems(run: SoakRun) -> list[str]:
    observed = run.observations
    problems = []
    if observed.engine_died is not None:
        problems.append(f"the engine ended by itself with exit code {observed.engine_died}")
    elif observed.exit_code != 0:
        problems.append(f"SIGTERM ended the engine with exit code {observed.exit_code}")
    problems += [f"log: {line}" for line in run.log.splitlines() if CRASH_LINE.match(line)]
    problems += [
        f"log: {line}" for line in run.log.splitlines() if "runner thread ended unexpectedly" in line
    ]
    return problems


def duplicate_problems(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    problems = []
    for user in run.users:
        record = records[user.name]
        problems += [
            f"{user.name}: identifier {key} {count} times in the database"
            for key, count in Counter(record.identifiers).items()
            if count > 1
        ]
        filled = Counter(order_slot(key) for key, order in record.orders.items() if order.state == "done")
        problems += [
            f"{user.name}: {count} filled orders for {key}" for key, count in filled.items() if count > 1
        ]
        exchange = run.exchange_orders.get(user.name, [])
        identifiers = Counter(str(order.get("identifier", "")) for order in exchange)
        slots = Counter(order_slot(key) for key in identifiers.elements())
        problems += [
            f"{user.name}: identifier {key} {n} times at the exchange"
            for key, n in identifiers.items()
            if n > 1
        ]
        problems += [f"{user.name}: {n} exchange orders for {key}" for key, n in slots.items() if n > 1]
        problems += [f"{user.name}: exchange order without identifier" for key in identifiers if not key]
    return problems


def lost_fill_problems(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    problems = []
    for user in run.users:
        if user.mode == "LIVE":
            problems += _live_fills(user, records[user.name], run.exchange_orders[user.name])
        else:
            problems += [
                f"{user.name}: {key} is {order.state} with executed volume {order.executed_volume}"
                for key, order in records[user.name].orders.items()
                if order.state in UNFINISHED or (order.state == "done" and not order.executed_volume)
            ]
    return problems


def _live_fills(user: SoakUser, record: UserRecord, exchange: list[dict[str, Any]]) -> list[str]:
    problems = []
    for order in exchange:
        identifier, volume = str(order["identifier"]), Decimal(order["executed_volume"])
        recorded = record.orders.get(identifier)
        expected = "done" if volume > 0 else "rejected"
        if recorded is None:
            problems.append(
                f"{user.name}: {identifier} at the exchange ({order['state']}), not in the database"
            )
        elif recorded.state != expected:
            problems.append(
                f"{user.name}: {identifier} exchange {order['state']} {volume}, database {recorded}"
            )
        elif volume > 0:
            exchange_fill = (volume, Decimal(order["paid_fee"]), order["uuid"])
            recorded_fill = (recorded.executed_volume, recorded.paid_fee, recorded.uuid)
            if recorded_fill != exchange_fill:
                problems.append(
                    f"{user.name}: {identifier} (volume, fee, uuid) exchange {exchange_fill}, "
                    f"database {recorded_fill}"
                )
    known = {str(order["identifier"]) for order in exchange}
    problems += [
        f"{user.name}: {key} is {order.state} in the database, unknown to the exchange"
        for key, order in record.orders.items()
        if key not in known and order.state not in ("rejected", *UNFINISHED)
    ]
    return problems


def unresolved_orders(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    """Orders still open in a database at the end that the exchange never received (not a loss)."""
    return [
        f"{user.name}: {key} ({order.state}, never placed)"
        for user in run.users
        for key, order in records[user.name].orders.items()
        if order.state in UNFINISHED
        and key not in {str(item["identifier"]) for item in run.exchange_orders.get(user.name, [])}
    ]


def audit_problems(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    problems = []
    for user in run.users:
        record = records[user.name]
        filled = {key: order for key, order in record.orders.items() if order.state == "done"}
        audited = Counter(audit.order_identifier for audit in record.audits if audit.cause != "manual")
        problems += [
            f"{user.name}: {audited[key]} audit rows for {key}" for key in filled if audited[key] != 1
        ]
        problems += [f"{user.name}: audit row for unfilled {key}" for key in audited if key not in filled]
        problems += [
            f"{user.name}: manual {audit.side} {audit.volume} audited: {audit.note}"
            for audit in record.audits
            if audit.cause == "manual"
        ]
        for audit in record.audits:
            order = filled.get(audit.order_identifier or "")
            if order is not None and (audit.side, audit.volume) != (order.side, order.executed_volume):
                problems.append(f"{user.name}: audit {audit.side} {audit.volume} for {order}")
    return problems


def candle_problems(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    problems = []
    end = run.observations.simulated_end  # the engine ran on (settling) well past this
    for user in run.users:
        record = records[user.name]
        twice = sorted(set(record.buy_starts) & set(record.sell_starts))
        problems += [f"{user.name}: candle {start:%H:%M} evaluated flat and in position" for start in twice]
        starts = sorted(set(record.buy_starts) | set(record.sell_starts))
        if not starts:
            problems.append(f"{user.name}: no candle evaluated")
            continue
        have = run.simulator_candles[user.market]
        for before, after in itertools.pairwise(starts):
            missing = [before + MINUTE * step for step in range(1, (after - before) // MINUTE)]
            skipped = [start for start in missing if start in have]
            problems += [f"{user.name}: candle {start:%Y-%m-%d %H:%M} skipped" for start in skipped]
        if end is not None and starts[-1] + MINUTE < end:
            problems.append(
                f"{user.name}: stopped evaluating at {starts[-1]:%H:%M}; the run went to {end:%H:%M}"
            )
    return problems


def mismatch_problems(run: SoakRun, records: dict[str, UserRecord]) -> list[str]:
    problems = []
    for user in run.users:
        record = records[user.name]
        coin = user.market.split("-", 1)[1]
        if user.mode == "LIVE":
            balances = run.exchange_balances[user.name]
            krw, held = balances.get("KRW", Decimal(0)), balances.get(coin, Decimal(0))
            if record.krw != krw:
                problems.append(f"{user.name}: KRW database {record.krw}, exchange {krw}")
            if record.coin != held:
                problems.append(f"{user.name}: {coin} database {record.coin}, exchange {held}")
            continue
        audited = sum(
            (audit.volume if audit.side == "bid" else -audit.volume for audit in record.audits), Decimal(0)
        )
        if audited != record.coin:
            problems.append(f"{user.name}: TEST position {record.coin} {coin}, audited fills {audited}")
    return problems


def blocked_problems(run: SoakRun) -> list[str]:
    observed = run.observations
    problems = [
        f"engine saw {counts.get('blocked', 0)} 418s in group {group}"
        for group, counts in observed.rate_groups.items()
        if counts.get("blocked", 0)
    ]
    blocked = observed.fault_counts.get("rate_limited", {}).get("418", 0)
    if blocked:
        problems.append(f"the simulator answered {blocked} 418s")
    return problems


def liveness_problems(run: SoakRun) -> list[str]:
    observed = run.observations
    problems = []
    if observed.simulated_end is None:
        problems.append("the run did not reach its candle count")
    if not observed.settled:
        problems.append("after the faults stopped, the engine did not settle (open orders or no cycles)")
    return problems


def check(run: SoakRun) -> tuple[dict[str, list[str]], dict[str, UserRecord]]:
    """Every check's problems, by category (all empty: the run passed), and the records read."""
    records = {user.name: read_user(run, user) for user in run.users}
    problems = {
        "crash": crash_problems(run),
        "duplicate": duplicate_problems(run, records),
        "lost_fill": lost_fill_problems(run, records),
        "audit": audit_problems(run, records),
        "candles": candle_problems(run, records),
        "mismatch": mismatch_problems(run, records),
        "blocked_418": blocked_problems(run),
        "liveness": liveness_problems(run),
    }
    return problems, records


# --- the figures --------------------------------------------------------------------------------


def figures(run: SoakRun, records: dict[str, UserRecord]) -> dict[str, Any]:
    """The report's numbers."""
    observed = run.observations
    start, end = observed.simulated_start, observed.simulated_end
    return {
        "users": len(run.users),
        "live_users": sum(1 for user in run.users if user.mode == "LIVE"),
        "markets": len(run.settings.markets),
        "candles_closed": int((end - start) / MINUTE) if start and end else 0,
        "candle_evaluations": sum(len(set(r.buy_starts) | set(r.sell_starts)) for r in records.values()),
        **_request_figures(run),
        **_order_figures(run, records),
        "exchange_error_lines": sum(1 for line in run.log.splitlines() if "exchange error" in line),
        "loop_crashed_lines": sum(1 for line in run.log.splitlines() if CRASH_LINE.match(line)),
        "max_cycle_seconds": observed.max_cycle_seconds,
        "max_cycle_user": observed.max_cycle_user,
        "health_samples": observed.health_samples,
        "rss_start_mb": observed.rss_start / 2**20,
        "rss_end_mb": observed.rss_end / 2**20,
        "rss_quarters_mb": _quarters([value / 2**20 for value in observed.rss_samples]),
        "watchdog_restarts": sum(1 for line in run.log.splitlines() if WATCHDOG_LINE in line),
        "wall_seconds": observed.wall_seconds,
        "startup_seconds": observed.startup_seconds,
        "settle_seconds": observed.settle_seconds,
        "stop_seconds": observed.stop_seconds,
        "exit_code": observed.exit_code,
    }


def _request_figures(run: SoakRun) -> dict[str, Any]:
    observed = run.observations
    groups = observed.rate_groups
    limited = observed.fault_counts.get("rate_limited", {})
    return {
        "faults_injected": dict(sorted(observed.fault_counts.get("injected", {}).items())),
        "rate_limited_429": limited.get("429", 0),
        "rate_limited_418": limited.get("418", 0),
        "engine_429": sum(counts.get("throttled", 0) for counts in groups.values()),
        "engine_418": sum(counts.get("blocked", 0) for counts in groups.values()),
        "simulator_requests": observed.simulator_requests,
        "order_requests": observed.order_requests,
        "engine_requests": sum(counts.get("requests", 0) for counts in groups.values()),
    }


def _order_figures(run: SoakRun, records: dict[str, UserRecord]) -> dict[str, Any]:
    exchange = [order for orders in run.exchange_orders.values() for order in orders]
    tests = [user for user in run.users if user.mode == "TEST"]
    test_orders = [order for user in tests for order in records[user.name].orders.values()]
    audits = [audit for record in records.values() for audit in record.audits]
    return {
        "live_orders": len(exchange),
        "live_fills": sum(1 for order in exchange if Decimal(order["executed_volume"]) > 0),
        "test_fills": sum(1 for order in test_orders if order.state == "done"),
        "recovered_fills": sum(1 for audit in audits if audit.cause == "recovery"),
    }


def _quarters(values: list[float]) -> list[float]:
    """The first value and the values at 1/4, 1/2, 3/4 and the end of the run."""
    if not values:
        return []
    return [values[round(share * (len(values) - 1))] for share in (0, 0.25, 0.5, 0.75, 1)]
