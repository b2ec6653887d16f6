"""Argument types shared by the `tradebot` subcommands (argparse `type=` callables)."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

MAX_KRW = Decimal(10) ** 15  # far above any account, far below float overflow in reports


def krw_amount(text: str) -> Decimal:
    """A positive KRW amount up to 10^15; `1,000,000` and `1_000_000` are accepted."""
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount of KRW") from None
    if not value.is_finite() or not 0 < value <= MAX_KRW:
        raise argparse.ArgumentTypeError(f"cash must be a positive amount of KRW up to 10^15, got {text}")
    return value
