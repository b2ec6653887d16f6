"""Market data below the exchange: candle files, their writers and seeded synthetic candles.

Uses only `tradebot.core`, so the simulator (`exchange`) and the backtest both build on it.
"""
