"""The simulator's intra-candle price model, the spread option and quotations that never show the future.

Inside candle i the last price moves from close[i-1] (open[0] for the first candle) at its start
to close[i] at its end, on the KRW tick grid; in a gap it stays at the last close.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from tradebot.cli import main
from tradebot.core.krw_rules import is_on_tick, to_decimal
from tradebot.core.models import NANOS_PER_SECOND, CandleSeries
from tradebot.exchange.simulator import SimulatorConfigError, build_config
from tradebot.exchange.simulator.build import build_exchange
from tradebot.exchange.simulator.candles import Period
from tradebot.exchange.simulator.config import SimulatorConfig
from tradebot.exchange.simulator.formatting import utc_to_nanos
from tradebot.exchange.simulator.market import MarketData
from tradebot.exchange.simulator.pricepath import MINUTE_NS, nearest_tick, replayed_path
from tradebot.exchange.simulator.ticker import TradeQuery

T0 = utc_to_nanos(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
SECOND = NANOS_PER_SECOND
# Candles at minutes 0, 1, 2 and 4 (minute 3 has no trades): open, high, low, close, volume.
CANDLES = {
    0: (100_000.0, 100_500.0, 99_800.0, 100_200.0, 2.0),
    1: (100_200.0, 101_500.0, 100_100.0, 101_000.0, 4.0),
    2: (101_000.0, 101_200.0, 99_000.0, 99_500.0, 1.0),
    4: (99_500.0, 100_000.0, 99_400.0, 99_900.0, 3.0),
}
MINUTE1 = Period("minutes", 1)


def make_market(spread_ticks: int = 1) -> MarketData:
    columns = np.array(list(CANDLES.values())).T
    starts = np.array([T0 + minute * MINUTE_NS for minute in CANDLES], dtype=np.int64)
    series = CandleSeries.checked(starts, *columns)
    return MarketData("KRW-BTC", replayed_path(series), seed=3, spread_ticks=spread_ticks)


def at(minute: int, seconds: float = 0) -> int:
    return T0 + minute * MINUTE_NS + int(seconds * SECOND)


@pytest.mark.parametrize(
    ("minute", "seconds", "price"),
    [
        (0, 0, 100_000),  # the first candle starts at its open
        (0, 30, 100_100),
        (1, 0, 100_200),  # every later one at the previous close
        (1, 15, 100_400),
        (1, 20, 100_500),  # 100,466.67 snaps to the nearest 100-KRW tick
        (1, 59.999, 101_000),
        (2, 0, 101_000),
        (2, 50, 99_750),  # below 100,000 the tick is 50 KRW
        (3, 0, 99_500),  # no candle: the price stays at the last close
        (3, 59, 99_500),
        (4, 0, 99_500),
        (5, 0, 99_900),  # after the last candle: its close
        (500, 0, 99_900),
    ],
)
def test_price_inside_candle_moves_from_previous_close_to_close(
    minute: int, seconds: float, price: int
) -> None:
    assert make_market().price(at(minute, seconds)) == Decimal(price)


def test_price_inside_candle_any_moment_on_grid_and_between_closes() -> None:
    market = make_market()
    for offset in range(0, 5 * 60, 7):
        now = at(0, offset)
        price = market.price(now)
        index = market.index(now)
        start = market.path.close[index - 1] if index > 0 else market.path.open[0]
        ends = [to_decimal(float(market.path.close[index])), to_decimal(float(start))]
        assert is_on_tick(price)
        assert min(ends) <= price <= max(ends)


def test_price_before_first_candle_is_its_open() -> None:
    market = make_market()
    assert market.price(at(-5)) == Decimal(100_000)
    assert market.ticker(at(-5))["trade_price"] == 100_000.0


def test_nearest_tick_on_tie_or_band_edge_picks_closest_grid_price() -> None:
    assert nearest_tick(Decimal(100_050)) == Decimal(100_000)
    assert nearest_tick(Decimal("100050.01")) == Decimal(100_100)
    assert nearest_tick(Decimal("99974.9")) == Decimal(99_950)  # 50-KRW ticks below 100,000
    assert nearest_tick(Decimal("0.1236")) == Decimal("0.124")  # 0.001-KRW ticks from 0.1 to 1


def test_set_price_holds_for_rest_of_candle_then_path_resumes_from_it() -> None:
    market = make_market()
    market.set_price(at(1, 15), Decimal(102_000))
    assert market.price(at(1, 15)) == Decimal(102_000)
    assert market.price(at(1, 59)) == Decimal(102_000)
    assert market.ticker(at(1, 40))["trade_price"] == 102_000.0
    assert market.price(at(2)) == Decimal(102_000)  # the next candle starts from it
    assert market.price(at(2, 30)) == Decimal(100_700)  # halfway is 100,750: a tie goes down
    market.set_price(at(2, 30), Decimal(99_000))
    market.set_price(at(2, 31), Decimal(100_000))
    forming = market.forming(at(2, 40))
    assert forming is not None
    assert (forming.price, forming.high, forming.low) == (100_000.0, 101_000.0, 99_000.0)


def test_candles_mid_candle_show_only_traded_so_far() -> None:
    market = make_market()
    now = at(1, 15)
    newest, closed = market.candles(MINUTE1, now, None, 2)
    assert newest["candle_date_time_utc"] == "2026-01-05T10:01:00"
    assert newest["opening_price"] == 100_200.0
    assert newest["trade_price"] == 100_400.0
    assert newest["high_price"] == 100_400.0  # not the candle's coming high of 101,500
    assert newest["low_price"] == 100_200.0
    assert newest["candle_acc_trade_volume"] == pytest.approx(1.0)  # a quarter of 4
    assert closed["trade_price"] == 100_200.0
    assert closed["high_price"] == 100_500.0
    assert closed["candle_acc_trade_volume"] == 2.0
    [five] = market.candles(Period("minutes", 5), now, None, 1)
    assert (five["high_price"], five["low_price"], five["trade_price"]) == (100_500.0, 99_800.0, 100_400.0)
    assert five["candle_acc_trade_volume"] == pytest.approx(3.0)


def test_candles_in_gap_show_recorded_values() -> None:
    market = make_market()
    newest = market.candles(MINUTE1, at(3, 10), None, 1)[0]  # in the gap: candle 2 is complete
    assert (newest["high_price"], newest["low_price"], newest["trade_price"]) == (
        101_200.0,
        99_000.0,
        99_500.0,
    )
    assert newest["candle_acc_trade_volume"] == 1.0


def test_quotations_mid_candle_agree_with_price() -> None:
    market = make_market()
    now = at(1, 15)
    ticker: dict[str, Any] = market.ticker(now)
    assert ticker["trade_price"] == 100_400.0
    assert ticker["high_price"] == 100_500.0  # minute 0's high; minute 1's 101,500 is still to come
    assert ticker["low_price"] == 99_800.0
    assert ticker["trade_volume"] == pytest.approx(1.0)
    assert ticker["acc_trade_volume"] == pytest.approx(3.0)
    assert ticker["highest_52_week_price"] == 100_500.0
    newest = market.trades(now, TradeQuery(count=2))
    assert [trade["trade_price"] for trade in newest] == [100_400.0, 100_200.0]
    level = market.levels(now)[0]
    assert (level.bid_price, level.ask_price) == (Decimal(100_400), Decimal(100_500))


@pytest.mark.parametrize(("spread_ticks", "ask"), [(0, 100_400), (1, 100_500), (3, 100_700)])
def test_best_ask_spread_ticks_above_last_price(spread_ticks: int, ask: int) -> None:
    market = make_market(spread_ticks)
    assert market.best_quotes(at(1, 15)) == (Decimal(100_400), Decimal(ask))
    assert market.levels(at(1, 15))[0].ask_price == Decimal(ask)


def test_set_price_with_zero_spread_puts_bid_and_ask_at_price() -> None:
    market = make_market(spread_ticks=0)
    market.set_price(at(1, 15), Decimal(100_000))
    assert market.best_quotes(at(1, 15)) == (Decimal(100_000), Decimal(100_000))
    with pytest.raises(ValueError, match="below"):
        market.set_price(at(1, 15), Decimal(100_000), bid=Decimal(100_000), ask=Decimal(100_000))


def test_spread_ticks_negative_refused() -> None:
    with pytest.raises(ValueError, match="spread_ticks"):
        make_market(spread_ticks=-1)
    with pytest.raises(SimulatorConfigError, match="spread_ticks"):
        build_config(spread_ticks=-1)


def test_spread_ticks_in_config_applies_to_every_market() -> None:
    config = build_config(
        spread_ticks=0, markets=["KRW-BTC", "KRW-ETH"], history_days=1, start=datetime(2026, 1, 5, tzinfo=UTC)
    )
    exchange = build_exchange(config)
    now = exchange.clock.now_ns()
    for market in exchange.markets.values():
        bid, ask = market.best_quotes(now)
        assert bid == ask == market.price(now)


def test_spread_ticks_cli_option_reaches_config(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SimulatorConfig] = []
    monkeypatch.setattr("tradebot.exchange.simulator.server.run_simulator", seen.append)
    assert main(["simulator", "--spread-ticks", "0", "--history-days", "1"]) == 0
    assert main(["simulator", "--history-days", "1"]) == 0
    assert [config.spread_ticks for config in seen] == [0, 1]


def test_spread_ticks_cli_help_lists_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["simulator", "--help"])
    assert "--spread-ticks" in capsys.readouterr().out
