"""The backtest runner takes its settings as values; it reads only the candle file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.backtest.runner import BacktestRequest, run_backtest
from tradebot.core.errors import SettingsError
from tradebot.core.models import Interval
from tradebot.core.params import BuyConditions, Conditions, SellConditions, StrategyParams
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

MARKET = "KRW-ETH"


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 seeded 15-minute candles of KRW-ETH, written in Upbit's layout (it names its market)."""
    series = generate_candles(1_500, interval=Interval.MINUTE15, seed=11, start_price=3_000_000.0)
    path = tmp_path_factory.mktemp("runner") / "candles.json"
    save_candles(series, path, layout="upbit", market=MARKET)
    return path


def test_run_backtest_params_and_conditions_values_are_used(data_file: Path) -> None:
    params = StrategyParams(interval=Interval.MINUTE15, market=MARKET, stop_loss=0.05, fast_period=8)
    conditions = Conditions(
        buy=BuyConditions(golden_cross=True, macd_positive=True),
        sell=SellConditions(dead_cross=False, take_profit=False),
    )

    document = run_backtest(BacktestRequest(data=data_file, params=params, conditions=conditions))

    assert document["summary"]["params"] == params.model_dump(mode="json")
    assert document["summary"]["conditions"] == conditions.model_dump(mode="json")
    assert document["trades"]
    assert all(trade["exit_reason"] not in {"dead_cross", "take_profit"} for trade in document["trades"])


def test_run_backtest_without_params_fits_defaults_to_the_data(data_file: Path) -> None:
    document = run_backtest(BacktestRequest(data=data_file))

    expected = StrategyParams(interval=Interval.MINUTE15, market=MARKET)
    assert document["summary"]["params"] == expected.model_dump(mode="json")
    assert document["summary"]["conditions"] == Conditions().model_dump(mode="json")


def test_run_backtest_params_interval_not_matching_data_names_their_origin(data_file: Path) -> None:
    params = StrategyParams(interval=Interval.MINUTE1, market=MARKET)
    request = BacktestRequest(data=data_file, params=params, params_origin="mine.json")

    with pytest.raises(SettingsError, match=r"^mine\.json: interval is minute1 .* minute15$"):
        run_backtest(request)


def test_run_backtest_params_market_not_matching_data_raises(data_file: Path) -> None:
    params = StrategyParams(interval=Interval.MINUTE15, market="KRW-BTC")

    with pytest.raises(SettingsError, match=r"^params: market is KRW-BTC but the data is KRW-ETH$"):
        run_backtest(BacktestRequest(data=data_file, params=params))
