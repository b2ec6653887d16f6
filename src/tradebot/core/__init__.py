"""Pure trading domain: candles, indicators, strategy decisions, Upbit KRW rules, paper ledger.

Nothing in this package performs I/O, reads a clock or imports another tradebot package.
"""
