"""Parity: one candle file through the backtest and through the LIVE loop on the simulator.

The backtest side is `backtest.replay.replay`, what `tradebot backtest` runs (its JSON rounds
equity to a float; the replay's account is exact). The simulator replays the file with
`replay_warmup` = `warmup_bars` candles behind its start and no spread, so a market order sent as
a candle closes fills at exactly that close; the backtest fills at the close with no slippage.
With price exits checked on closes only, both must make the same trades (entry and exit candle,
prices, volume, exit rule) and end with the same equity, to the last Decimal digit.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.backtest.replay import entry_signals, indicator_frame, replay
from tradebot.core.krw_rules import MONEY, to_decimal
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries, Interval, nanos_to_datetime
from tradebot.core.params import (
    SELL_CONDITION_KEYS,
    Conditions,
    PriceExitCheck,
    SellConditions,
    StrategyParams,
)
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.live_loop import LiveLoop
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.marketdata.candle_files import load_candles
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles
from tradebot.services.settings_store import save_conditions, save_params
from tradebot.services.storage import Window, open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .conftest import NoWaitClock, Simulator, SimulatorFactory

USER = "parity"
MARKET = "KRW-BTC"
ACCESS = "parity-live-access-key"
SECRET = "parity0live0secret0key0for0tests0only000"  # noqa: S105 - fake key of the fake exchange
WARMUP = 60
AFTER_WARMUP = 400
CASH = Decimal(1_000_000)
MINUTE_NS = 60 * NANOS_PER_SECOND
ALL_TRADES = 100_000
PARAMS = StrategyParams(
    market=MARKET,
    interval=Interval.MINUTE1,
    warmup_bars=WARMUP,
    slippage_bps=0,
    price_exit_check=PriceExitCheck.CLOSE,
    order_ratio=0.5,
    take_profit=0.004,
    stop_loss=0.003,
    trailing_stop=0.003,
    min_holding_bars=5,
)
CONDITIONS = Conditions(sell=SellConditions(macd_negative=True, signal_negative=True))

# (entry candle start, exit candle start, entry price, exit price, volume, exit rule); None while open
TradeKey = tuple[datetime, datetime | None, Decimal, Decimal | None, Decimal, str | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run did: its round trips and its equity at the last close."""

    trades: list[TradeKey]
    equity: Decimal


def candle_file(
    folder: Path,
    gap_probability: float,
    start_price: float,
    start: datetime = datetime(2025, 6, 2, tzinfo=UTC),
) -> Path:
    series = generate_candles(
        WARMUP + AFTER_WARMUP,
        interval=Interval.MINUTE1,
        seed=27,  # (nearly) every exit rule fires, and the file ends in a position
        start=start,
        start_price=start_price,
        gap_probability=gap_probability,
    )
    path = folder / f"{MARKET}_minute1_parity.csv"
    save_candles(series, path, market=MARKET)
    return path


def from_candle(series: CandleSeries, first: int) -> CandleSeries:
    """The candles of `series` from index `first` on."""
    columns = (series.start_ns, series.open, series.high, series.low, series.close, series.volume)
    return CandleSeries.checked(*(column[first:] for column in columns))


def equity_at_last_close(krw: Decimal, volume: Decimal, series: CandleSeries) -> Decimal:
    return MONEY.add(krw, MONEY.multiply(volume, to_decimal(float(series.close[-1]))))


def backtest(series: CandleSeries, params: StrategyParams = PARAMS, cash: Decimal = CASH) -> Outcome:
    result = replay(series, params, CONDITIONS, cash)

    def start(index: int) -> datetime:
        return nanos_to_datetime(int(series.start_ns[index]))

    trades: list[TradeKey] = [
        (
            start(trade.entry_index),
            start(trade.exit_index) if trade.exit_index is not None else None,
            trade.entry.price,
            trade.exit.price if trade.exit is not None else None,
            trade.entry.volume,
            trade.exit_reason,
        )
        for trade in result.trades
    ]
    account = result.executor.account
    held = MONEY.add(account.volume, account.dust)  # written-off dust stays in the wallet
    return Outcome(trades, equity_at_last_close(account.krw, held, series))


def prepare_user(home: Path, params: StrategyParams = PARAMS) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    save_params(params_path(home, USER), params)
    save_conditions(conditions_path(home, USER), CONDITIONS)
    save_keys(home, USER, UpbitKeys(ACCESS, SECRET), datetime.now(UTC))


def start_simulator(
    factory: SimulatorFactory, data: Path, replay_warmup: int, cash: Decimal = CASH
) -> Simulator:
    accounts = [{"access_key": ACCESS, "secret_key": SECRET, "balances": {"KRW": str(cash)}}]
    return factory(
        data=[data],
        start=None,
        replay_warmup=replay_warmup,
        markets=[MARKET],
        spread_ticks=0,
        accounts=accounts,
        rate_limits={"enforce": False},
    )


def run_live(exchange: Simulator, home: Path, series: CandleSeries, resources: ExitStack) -> LiveLoop:
    """Start the loop at the simulator's start and cycle once a minute until the file's end.

    `series` is what the loop sees: its first `WARMUP` candles lie behind the simulator's start.
    """
    request = RunRequest(home, USER, "LIVE", exchange.base_url, live_confirmed=True)
    session = exchange.session(clock=NoWaitClock())
    loop = build_loop(request, SimulatedTimeClock(exchange.server), resources, session=session)
    loop.start()
    file_end = int(series.start_ns[-1]) + MINUTE_NS
    cycles = (file_end - int(series.start_ns[WARMUP])) // MINUTE_NS
    for _ in range(cycles):
        exchange.step(60)
        loop.cycle()
    return loop


def live_outcome(exchange: Simulator, home: Path, series: CandleSeries) -> Outcome:
    with open_user_store(home, USER) as store:
        audits = store.trade_audits(ALL_TRADES)
    trades: list[TradeKey] = []
    for position, audit in enumerate(audits):
        if audit.side != "bid":
            continue
        assert audit.candle_start is not None
        sale = audits[position + 1] if position + 1 < len(audits) else None
        if sale is not None:
            assert sale.side == "ask"
            assert sale.volume == audit.volume
        trades.append(
            (
                audit.candle_start,
                sale.candle_start if sale else None,
                audit.fill_price,
                sale.fill_price if sale else None,
                audit.volume,
                sale.rule if sale else None,
            )
        )
    balances = exchange.balances(ACCESS)
    held = balances.get("BTC", {"balance": Decimal(0)})["balance"]
    return Outcome(trades, equity_at_last_close(balances["KRW"]["balance"], held, series))


@pytest.mark.parametrize(
    ("gap_probability", "start_price", "extra_history"),
    [(0.0, 80_000_000.0, 0), (0.2, 80_000_000.0, 0), (0.0, 0.5, 0), (0.0, 80_000_000.0, 25)],
    ids=["dense", "gaps", "sub_krw_ticks", "more_history_than_warmup"],
)
def test_live_loop_and_backtest_same_candle_file_identical_trades_and_equity(
    simulator_factory: SimulatorFactory,
    tmp_path: Path,
    resources: ExitStack,
    gap_probability: float,
    start_price: float,
    extra_history: int,
) -> None:
    """With `extra_history` candles more behind the simulator's start than the warm-up, the loop
    warms up on the last `WARMUP` of them only: it matches a backtest of the file from there."""
    data = candle_file(tmp_path, gap_probability, start_price)
    series = from_candle(load_candles(data).series, extra_history)
    expected = backtest(series)
    # The file must exercise the exit rules and end holding coin, or the comparison proves little.
    rules = {trade[5] for trade in expected.trades}
    assert None in rules
    assert len(rules & set(SELL_CONDITION_KEYS)) >= 5
    prepare_user(tmp_path)
    exchange = start_simulator(simulator_factory, data, WARMUP + extra_history)
    run_live(exchange, tmp_path, series, resources)
    actual = live_outcome(exchange, tmp_path, series)
    assert actual.trades == expected.trades
    assert actual.equity == expected.equity


def test_small_account_entries_refused_below_min_exit_identically_in_backtest_and_live(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack
) -> None:
    """Issue 12 finding 4: 10,110 KRW at order_ratio 0.5 with a 1% stop. After its first trade the
    account can no longer buy a position sellable at its stop: both sides refuse the same entry
    signals as below_min_exit and end with the same money."""
    params, cash = PARAMS.model_copy(update={"stop_loss": 0.01}), Decimal(10_110)
    data = candle_file(tmp_path, 0.0, 80_000_000.0)
    series = load_candles(data).series
    result = replay(series, params, CONDITIONS, cash)
    refused = [record for record in result.skipped.records if record.reason == "below_min_exit"]
    assert refused  # the file must exercise the refusal, or the comparison proves little
    expected = backtest(series, params, cash)
    prepare_user(tmp_path, params)
    exchange = start_simulator(simulator_factory, data, WARMUP, cash)
    run_live(exchange, tmp_path, series, resources)
    assert live_outcome(exchange, tmp_path, series) == expected
    with open_user_store(tmp_path, USER) as store:
        evaluations = store.buy_evaluations(MARKET, Interval.MINUTE1, Window(limit=ALL_TRADES))
    live_refused = [row.candle_start for row in evaluations if "below_min_exit" in row.reason]
    assert len(live_refused) == sum(record.count for record in refused)
    assert live_refused[0] == nanos_to_datetime(int(series.start_ns[refused[0].first_index]))
    assert live_refused[-1] == nanos_to_datetime(int(series.start_ns[refused[-1].last_index]))


# Every protection blocks at least one entry signal on this file; its KST day ends at candle 120.
PROTECTED = PARAMS.model_copy(
    update={"cooldown_bars": 20, "max_consecutive_losses": 2, "loss_pause_bars": 40, "max_daily_loss": 0.002}
)
PROTECTED_START = datetime(2025, 6, 2, 13, tzinfo=UTC)  # 22:00 KST: the file crosses a KST midnight


def test_protections_block_the_same_entries_in_backtest_and_live(
    simulator_factory: SimulatorFactory, tmp_path: Path, resources: ExitStack
) -> None:
    """Cooldown, loss streak and daily loss on: the backtest and the LIVE loop make the same trades,
    and every entry signal the backtest blocks is a LIVE evaluation naming the same protection."""
    data = candle_file(tmp_path, 0.0, 80_000_000.0, PROTECTED_START)
    series = load_candles(data).series
    result = replay(series, PROTECTED, CONDITIONS, CASH)
    signals = entry_signals(indicator_frame(series, PROTECTED, CONDITIONS), PROTECTED, CONDITIONS)
    records = [record for record in result.skipped.records if record.reason.startswith("protection:")]
    blocked = {
        nanos_to_datetime(int(series.start_ns[index])): record.reason
        for record in records
        for index in range(record.first_index, record.last_index + 1)
        if signals[index]
    }
    assert len(blocked) == sum(record.count for record in records)
    assert set(blocked.values()) == {"protection:cooldown", "protection:loss_streak", "protection:daily_loss"}
    unprotected = backtest(series)
    expected = backtest(series, PROTECTED)
    assert len(expected.trades) < len(unprotected.trades)  # the protections changed the trades
    prepare_user(tmp_path, PROTECTED)
    exchange = start_simulator(simulator_factory, data, WARMUP)
    run_live(exchange, tmp_path, series, resources)
    assert live_outcome(exchange, tmp_path, series) == expected
    with open_user_store(tmp_path, USER) as store:
        evaluations = store.buy_evaluations(MARKET, Interval.MINUTE1, Window(limit=ALL_TRADES))
    live_blocked = {
        row.candle_start: row.reason.partition(": ")[0]
        for row in evaluations
        if row.reason.startswith("protection:")
    }
    assert live_blocked == blocked
