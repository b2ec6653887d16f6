"""Backtesting: the historical replay of candles, its exits, fills, report and chart."""
