"""Upbit's market safeguards as the strategy's entry gate reads them (docs/TRADING_RULES.md).

Upbit flags risky markets in `/v1/market/all?is_details=true`: `market_event.warning` (유의 종목,
investment warning, often before a delisting) and five `market_event.caution` flags (주의 종목). A
market can also leave the list (delisted) or have its trading suspended. A new entry is refused in a
market with any of these, except a caution flag the user allowed in `SafeguardSettings`; exits are
never refused. Pure: the engine reads the list and asks `entry_block` before an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

CautionFlag = Literal[
    "PRICE_FLUCTUATIONS",
    "TRADING_VOLUME_SOARING",
    "DEPOSIT_AMOUNT_SOARING",
    "GLOBAL_PRICE_DIFFERENCES",
    "CONCENTRATION_OF_SMALL_ACCOUNTS",
]
CAUTION_FLAGS: tuple[CautionFlag, ...] = get_args(CautionFlag)
WARNING_REASON = "safeguard:warning"
CAUTION_REASON = "safeguard:caution:"  # followed by the flag
DELISTED_REASON = "safeguard:delisted"
SUSPENDED_REASON = "safeguard:suspended"
# Plain words for each reason, for alerts, health and the dashboard.
CAUTION_WORDS: dict[str, str] = {
    "PRICE_FLUCTUATIONS": "sharp price swings",
    "TRADING_VOLUME_SOARING": "trading volume soaring",
    "DEPOSIT_AMOUNT_SOARING": "deposits soaring",
    "GLOBAL_PRICE_DIFFERENCES": "price far from other exchanges",
    "CONCENTRATION_OF_SMALL_ACCOUNTS": "trading concentrated in a few small accounts",
}


class SafeguardSettings(BaseModel):
    """Which of Upbit's caution flags still let the bot enter (`safeguards` in the params file).

    Nothing is allowed by default. The investment warning, a delisting and a suspension always
    stop entries: they are not the user's to allow.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_caution_flags: tuple[CautionFlag, ...] = Field(
        (),
        description=(
            "Upbit caution flags (주의) under which new entries are still allowed; none by default. "
            "The investment warning (유의), delisting and suspension always block entries."
        ),
    )


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """A listed market's flags: the warning and the caution flags that are set."""

    warning: bool = False
    caution: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MarketStanding:
    """What Upbit says about one market now: listed (with its flags) and suspended or not."""

    listed: bool = True
    event: MarketEvent = MarketEvent()
    suspended: bool = False


def entry_blocks(standing: MarketStanding, settings: SafeguardSettings) -> tuple[str, ...]:
    """Every safeguard that refuses a new entry in the market, in a fixed order (empty: none)."""
    if not standing.listed:
        return (DELISTED_REASON,)
    reasons = [SUSPENDED_REASON] if standing.suspended else []
    if standing.event.warning:
        reasons.append(WARNING_REASON)
    allowed = set(settings.allowed_caution_flags)
    # The documented flags in their order, then any other flag the standing carries: not safe.
    flags = [*CAUTION_FLAGS, *sorted(set(standing.event.caution) - set(CAUTION_FLAGS))]
    reasons += [
        f"{CAUTION_REASON}{flag}" for flag in flags if flag in standing.event.caution and flag not in allowed
    ]
    return tuple(reasons)


def describe(reason: str) -> str:
    """A safeguard reason in plain words: `safeguard:caution:PRICE_FLUCTUATIONS (sharp price swings)`."""
    words = {
        WARNING_REASON: "Upbit investment warning (유의 종목)",
        DELISTED_REASON: "the market is no longer listed on Upbit (delisted)",
        SUSPENDED_REASON: "trading in the market is suspended on Upbit",
    }.get(reason)
    if words is None and reason.startswith(CAUTION_REASON):
        flag = reason.removeprefix(CAUTION_REASON)
        words = f"Upbit caution (주의): {CAUTION_WORDS.get(flag, flag)}"
    return f"{reason} ({words})" if words else reason
