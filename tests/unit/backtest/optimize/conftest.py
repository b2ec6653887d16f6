"""Shared synthetic candles for the optimiser's tests (seeded; no real data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.core.models import CandleSeries, Interval
from tradebot.marketdata.synthetic import generate_candles

MARKET = "KRW-BTC"
SPACE_TEXT = """
fast_period: [3, 20]
slow_period: [10, 60]
signal_period: [2, 15]
min_holding_bars: [0, 30]
take_profit: {low: 0.003, high: 0.05, log: true}
stop_loss: {low: 0.003, high: 0.05, log: true}
trailing_stop: {low: 0.003, high: 0.05, log: true}
"""


@pytest.fixture(scope="session")
def candles() -> CandleSeries:
    """6,000 seeded one-minute candles."""
    return generate_candles(6_000, interval=Interval.MINUTE1, seed=5)


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    """A space with short periods, so a small file holds several folds (warm-up 200)."""
    path = tmp_path / "space.yaml"
    path.write_text(SPACE_TEXT, encoding="utf-8")
    return path
