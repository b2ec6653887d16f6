"""tradebot: an automated MACD trading bot for Upbit KRW markets."""

__version__ = "0.1.0"
