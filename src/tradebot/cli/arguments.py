"""Argument types shared by the `tradebot` subcommands (argparse `type=` callables)."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import Any

from tradebot.core.params import MARKET_PATTERN

MAX_KRW = Decimal(10) ** 15  # far above any account, far below float overflow in reports
MIN_CYCLE_SECONDS = 0.1
MAX_CYCLE_SECONDS = 3600.0
SubParsers = Any  # argparse's private _SubParsersAction type


def krw_amount(text: str) -> Decimal:
    """A positive KRW amount up to 10^15; `1,000,000` and `1_000_000` are accepted."""
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount of KRW") from None
    if not value.is_finite() or not 0 < value <= MAX_KRW:
        raise argparse.ArgumentTypeError(f"cash must be a positive amount of KRW up to 10^15, got {text}")
    return value


def cycle_seconds(text: str) -> float:
    """A loop's cycle (or a watchdog's delay) in seconds, between 0.1 and 3600."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not MIN_CYCLE_SECONDS <= seconds <= MAX_CYCLE_SECONDS:
        raise argparse.ArgumentTypeError(f"cycle must be between 0.1 and 3600 seconds, got {text}")
    return seconds


def market_code(text: str) -> str:
    """A KRW market code such as `KRW-BTC`, upper-cased."""
    market = text.strip().upper()
    if not MARKET_PATTERN.fullmatch(market):
        raise argparse.ArgumentTypeError(f"'{text}' is not a KRW market code like KRW-BTC")
    return market
