"""The entry advisor's contract: what the live loop asks before an entry, and the answer it gets.

An advisor may veto an entry the rules chose; it never proposes one, never sizes one and never
sells. It must not raise: when it cannot answer (off, timeout, error, budget spent) it returns
`go=True` with `source="fallback"`, so the bot trades by its rules alone. The implementation that
asks a language model is `services.ai_review.advisor.EntryAdvisor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from tradebot.core.indicators import IndicatorRow
from tradebot.core.models import Candle
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import Decision

AdvisorSource = Literal["model", "fallback"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisorContext:
    """An entry the rules want: the closed candle, its indicators, the decision and the settings."""

    candle: Candle
    indicators: IndicatorRow
    decision: Decision
    params: StrategyParams
    conditions: Conditions
    budget_krw: Decimal


@dataclass(frozen=True, slots=True)
class AdvisorVerdict:
    """Go or no-go, why, and whether a model said so or the rules decided alone (`fallback`)."""

    go: bool
    reason: str
    source: AdvisorSource


class EntryAdvisorProtocol(Protocol):
    """What the live loop depends on; `advise` blocks for at most the advisor's timeout."""

    def advise(self, context: AdvisorContext) -> AdvisorVerdict:
        """The verdict on one entry; never raises."""
        ...
