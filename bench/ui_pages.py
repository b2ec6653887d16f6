"""How long does each dashboard page take to run for a user with 100,000 audit rows?

Builds a data directory with one user (`alice`, logged in) whose database holds `--rows` audit rows
(60% `buy_eval`, 35% `sell_eval` with one tick trigger in seven, 5% `trade_audit` with their orders),
written through the services API in one transaction, plus a fresh `health.json`. Then runs every
page file in `src/tradebot/ui/views/*.py` with Streamlit's AppTest, as the tests do (session state
seeded with the login), three times each on a fresh AppTest, and prints the median wall time, the
rows shown in data frames and any exception the page showed; the last line times the Audit Viewer's
rerun after choosing a failed condition and a trigger (SQLite then reads every row's JSON).
Target (issue 6): under 2 s per page.

    .venv/bin/python bench/ui_pages.py [--rows N]

Prints figures only (no asserts); not part of the test suite.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tradebot.core.models import Interval
from tradebot.core.params import BUY_CONDITION_KEYS, PRICE_EXIT_KEYS, Conditions, StrategyParams
from tradebot.core.strategy import Action, ConditionResult
from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.credentials import COOKIE_KEY_VARIABLE
from tradebot.services.health_monitor import HealthReport, ProcessHealth, UserHealth, write_health
from tradebot.services.records import BuyEvaluation, OrderUpdate, PendingOrder, SellEvaluation, TradeAudit
from tradebot.services.storage import Transaction, open_user_store
from tradebot.services.user_admin import create_user

PAGES = Path(__file__).resolve().parents[1] / "src" / "tradebot" / "ui" / "views"
USERNAME = "alice"
MARKET = "KRW-BTC"
START = datetime(2026, 1, 1, tzinfo=UTC)
CYCLE = 20  # candles per cycle: 12 flat (buy_eval), 7 in a position (sell_eval), 1 trade
REPEATS = 3


def build_fixture(home: Path, rows: int) -> None:
    """`home` with alice (password login) and `rows` audit rows in her database."""
    create_user(home, USERNAME, "alice-password-1", START)
    with open_user_store(home, USERNAME) as store, store.transaction() as transaction:
        first = _versions(transaction, StrategyParams())
        second = _versions(transaction, StrategyParams(take_profit=0.05))
        for cycle in range(rows // CYCLE):
            versions = first if cycle < rows // CYCLE // 2 else second
            _write_cycle(transaction, cycle, versions)
    _write_health(home)


def _versions(transaction: Transaction, params: StrategyParams) -> tuple[int, int]:
    return (
        transaction.record_settings(params, saved_at=START, saved_by=USERNAME),
        transaction.record_settings(Conditions(), saved_at=START, saved_by=USERNAME),
    )


def _write_cycle(transaction: Transaction, cycle: int, versions: tuple[int, int]) -> None:
    base = START + timedelta(minutes=cycle * CYCLE)
    price = Decimal(100_000_000 + (cycle % 50) * 10_000)
    for step in range(12):
        transaction.upsert_buy_evaluation(_buy(base + timedelta(minutes=step), price, step, versions))
    for step in range(7):
        candle = base + timedelta(minutes=12 + step)
        transaction.upsert_sell_evaluation(_sell(candle, price, step, versions))
    _write_trade(transaction, cycle, base + timedelta(minutes=11), price, versions)


def _buy(candle: datetime, price: Decimal, step: int, versions: tuple[int, int]) -> BuyEvaluation:
    buying = step == 11
    conditions = {
        key: ConditionResult(key == "golden_cross", buying or (step + index) % 3 == 0, 0.5 * step)
        for index, key in enumerate(BUY_CONDITION_KEYS)
    }
    return BuyEvaluation(
        market=MARKET,
        interval=Interval.MINUTE1,
        candle_start=candle,
        price=price,
        macd=10.0 * step,
        signal=8.0 * step,
        hist=2.0 * step,
        conditions=conditions,
        decision=Action.BUY if buying else Action.HOLD,
        reason="entry: golden_cross held" if buying else "no entry: golden_cross failed",
        params_version=versions[0],
        conditions_version=versions[1],
        evaluated_at=candle + timedelta(minutes=1),
    )


def _sell(candle: datetime, price: Decimal, step: int, versions: tuple[int, int]) -> SellEvaluation:
    tick, selling = step == 3, step == 6
    rules = {
        key: ConditionResult(True, selling and key == "take_profit", float(price)) for key in PRICE_EXIT_KEYS
    }
    return SellEvaluation(
        market=MARKET,
        interval=Interval.MINUTE1,
        candle_start=candle,
        trigger_kind="tick" if tick else "close",
        price=price,
        entry_price=price,
        peak_price=price,
        stop_loss_price=price * Decimal("0.98"),
        take_profit_price=price * Decimal("1.03"),
        trailing_stop_price=price * Decimal("0.98"),
        bars_held=step,
        rules=rules,
        decision=Action.SELL if selling else Action.HOLD,
        reason="exit: take_profit" if selling else "no exit rule held",
        trigger_rule="take_profit" if selling else None,
        params_version=versions[0],
        conditions_version=versions[1],
        evaluated_at=candle + timedelta(minutes=1),
    )


def _write_trade(
    transaction: Transaction, cycle: int, candle: datetime, price: Decimal, versions: tuple[int, int]
) -> None:
    side = "bid" if cycle % 2 == 0 else "ask"
    identifier = f"bench-{cycle}"
    executed = candle + timedelta(minutes=1)
    request = PendingOrder(
        identifier=identifier,
        mode="TEST",
        market=MARKET,
        side=side,
        ord_type="price" if side == "bid" else "market",
        price=Decimal(100_000) if side == "bid" else None,
        volume=None if side == "bid" else Decimal("0.001"),
        candle_start=candle,
        requested_at=executed,
    )
    transaction.insert_order(request)
    update = OrderUpdate(
        state="done", updated_at=executed, executed_volume=Decimal("0.001"), average_price=price
    )
    transaction.update_order(identifier, update)
    audit = TradeAudit(
        mode="TEST",
        market=MARKET,
        side=side,
        fill_price=price,
        volume=Decimal("0.001"),
        fee=Decimal(50),
        params_version=versions[0],
        conditions_version=versions[1],
        cause="strategy",
        rule="golden_cross" if side == "bid" else "take_profit",
        executed_at=executed,
        interval=Interval.MINUTE1,
        candle_start=candle,
        order_identifier=identifier,
        realised_profit=None if side == "bid" else Decimal(1234),
    )
    transaction.append_trade_audit(audit)


def _write_health(home: Path) -> None:
    now = datetime.now(UTC)
    user = UserHealth(
        username=USERNAME,
        state="running",
        desired_running=True,
        mode="TEST",
        heartbeat_at=now,
        heartbeat_age_seconds=1.0,
        last_fetch_at=now,
        last_closed_candle=now,
        cycle_duration_seconds=0.2,
        consecutive_errors=0,
        last_error=None,
        open_positions=0,
    )
    process = ProcessHealth(
        pid=1, rss_bytes=200 * 1_048_576, cpu_percent=3.0, uptime_seconds=3600.0, threads=12
    )
    report = HealthReport(
        generated_at=now,
        engine_id="bench",
        cycle_seconds=5.0,
        process=process,
        rate_groups={"market": GroupCounts(1000, 2, 0)},
        users=[user],
    )
    write_health(home, report)


def _logged_in(page: Path) -> AppTest:
    app = AppTest.from_file(str(page), default_timeout=120)
    app.session_state["authentication_status"] = True
    app.session_state["username"] = USERNAME
    app.session_state["name"] = USERNAME
    return app


def _timed_run(app: AppTest) -> float:
    started = time.perf_counter()
    app.run()
    return time.perf_counter() - started


def time_page(page: Path, filtered: bool = False) -> tuple[float, int, str]:
    """(median seconds of REPEATS runs, rows shown in data frames, first exception or '').

    `filtered` (Audit Viewer only) times the rerun after choosing a failed condition and a trigger,
    the filters that make SQLite read every row's JSON.
    """
    durations, rows, problem = [], 0, ""
    for _ in range(REPEATS):
        app = _logged_in(page)
        if filtered:
            app.run()
            app.selectbox(key="audit_buy_eval_failed").select("golden_cross")
            app.selectbox(key="audit_sell_eval_trigger").select("tick")
        durations.append(_timed_run(app))
        rows = sum(len(frame.value) for frame in app.dataframe)
        problem = app.exception[0].message.splitlines()[0][:90] if app.exception else ""
    return statistics.median(durations), rows, problem


def main() -> None:
    """Build the fixture, time every page and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="audit rows in the user's database")
    arguments = parser.parse_args()
    logging.disable(logging.CRITICAL)  # a page's own error is reported in the table, not as a traceback
    with tempfile.TemporaryDirectory(prefix="tradebot-ui-bench-") as directory:
        home = Path(directory)
        os.environ["TRADEBOT_HOME"] = str(home)
        os.environ[COOKIE_KEY_VARIABLE] = "bench-cookie-key-" + "x" * 32
        started = time.perf_counter()
        build_fixture(home, arguments.rows)
        print(f"fixture: {arguments.rows:,} audit rows built in {time.perf_counter() - started:.2f} s")
        print(f"{'page':<26} {'seconds (median of 3)':>22} {'rows':>8}  problem")
        runs = [(page, page.name, False) for page in sorted(PAGES.glob("*.py")) if page.name != "__init__.py"]
        runs.append((PAGES / "audit_viewer.py", "audit_viewer.py, filtered", True))
        for page, name, filtered in runs:
            seconds, rows, problem = time_page(page, filtered)
            print(f"{name:<26} {seconds:>22.3f} {rows:>8}  {problem}")


if __name__ == "__main__":
    main()
