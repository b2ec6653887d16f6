"""What a `LiveLoop` reports and refuses: kept apart so the runner's modules import them without the loop."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tradebot.core.errors import TradebotError
from tradebot.services.records import EngineState


class ForceRefused(TradebotError):  # noqa: N818 - an outcome told to the user, like OrderRejected
    """A force buy or sell that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did, for the status line (`LiveLoop.cycle`)."""

    closed_candles: int
    decisions: list[str]
    price: Decimal | None
    state: EngineState
