"""Fast replay versus the live decision code, candle by candle, on real Upbit candles.

For every candle file under a data directory (default `../shared/data/upbit`, which is not part
of the repository), runs `replay` (the backtest's fast path) and `replay_stepwise` (each closed
candle through `core.strategy.decide`, as the live loop does) under several settings and prints
whether trades, refusals and the final account are identical.

    .venv/bin/python bench/parity_real_data.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

from tradebot.backtest.replay import replay, replay_stepwise
from tradebot.core.errors import CandleDataError
from tradebot.core.models import infer_interval
from tradebot.core.params import BuyConditions, Conditions, SellConditions, StrategyParams
from tradebot.marketdata.candle_files import load_candles

CASH = Decimal(1_000_000)
# A small account: stop losses shrink it until an entry is refused as `below_min_exit`, and a gap
# through the stop leaves a position worth under 5,000 KRW, written off as `dust` (v2).
SMALL_CASH = Decimal(5_600)

# Tight exits make many short trades, so every protection fires and blocks entry signals.
PROTECTIONS: dict[str, object] = {
    "take_profit": 0.01, "stop_loss": 0.005, "trailing_stop": 0.005, "cooldown_bars": 12,
    "max_consecutive_losses": 2, "loss_pause_bars": 30, "max_daily_loss": 0.002,
}  # fmt: skip

SETTINGS: dict[str, tuple[dict[str, object], Conditions, Decimal]] = {
    "defaults": ({}, Conditions(), CASH),
    "hold 5, macd>0": (
        {"min_holding_bars": 5},
        Conditions(buy=BuyConditions(golden_cross=True, macd_positive=True)),
        CASH,
    ),
    "all exits, 30bps": (
        {"slippage_bps": 30.0, "take_profit": 0.01, "stop_loss": 0.01, "trailing_stop": 0.005},
        Conditions(sell=SellConditions(macd_negative=True, signal_negative=True)),
        CASH,
    ),
    "trend + ma60": (
        {"order_ratio": 1.0},
        Conditions(buy=BuyConditions(golden_cross=False, macd_trending_up=True, above_ma60=True)),
        CASH,
    ),
    "protections on": (PROTECTIONS, Conditions(), CASH),
    "5,600 KRW, stop 1%": (
        {"order_ratio": 1.0, "stop_loss": 0.01},
        Conditions(sell=SellConditions(take_profit=False, trailing_stop=False, dead_cross=False)),
        SMALL_CASH,
    ),
}


def check_file(path: Path) -> list[str]:
    """One report line per setting for the candles in `path`."""
    loaded = load_candles(path)
    interval = infer_interval(loaded.series.start_ns)
    if interval is None or len(loaded.series) <= 200:
        return [f"{path.name}: skipped (interval unknown or too short)"]
    lines = []
    for name, (changes, conditions, cash) in SETTINGS.items():
        params = StrategyParams(interval=interval, **changes)  # type: ignore[arg-type]
        started = time.perf_counter()
        fast = replay(loaded.series, params, conditions, cash)
        fast_seconds = time.perf_counter() - started
        stepwise = replay_stepwise(loaded.series, params, conditions, cash)
        same = (
            fast.trades == stepwise.trades
            and fast.skipped.records == stepwise.skipped.records
            and fast.executor.account == stepwise.executor.account
        )
        dust = sum(trade.exit_reason == "dust" for trade in fast.trades)
        unsellable = sum(record.count for record in fast.skipped.records if record.reason == "below_min_exit")
        protected = sum(
            record.count for record in fast.skipped.records if record.reason.startswith("protection:")
        )
        lines.append(
            f"{path.name:<48} {name:<18} {len(loaded.series):>7,} candles {len(fast.trades):>5} trades "
            f"{dust:>3} dust {unsellable:>5} below_min_exit {protected:>5} protected "
            f"fast {fast_seconds:6.3f} s  "
            f"{'IDENTICAL' if same else 'DIFFERENT'}"
        )
    return lines


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "shared/data/upbit"
    files = sorted(path for path in root.rglob("*") if path.suffix in {".csv", ".json", ".parquet"})
    if not files:
        print(f"no candle files under {root}")
        return 1
    different = 0
    for path in files:
        try:
            lines = check_file(path)
        except CandleDataError as error:
            lines = [f"{path.name}: not loadable ({error})"]
        for line in lines:
            different += line.endswith("DIFFERENT")
            print(line)
    print("all identical" if not different else f"{different} runs DIFFERENT")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
