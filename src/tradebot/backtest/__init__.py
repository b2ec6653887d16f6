"""Backtesting: candle files, synthetic candles and the historical replay."""
