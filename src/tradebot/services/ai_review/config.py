"""The AI review's per-user settings and the price table that turns token counts into dollars.

Spending is counted in USD because OpenAI bills in USD. Prices are list prices per million tokens;
a model missing from the table is charged `UNKNOWN_MODEL_PRICE` (15 USD in, 120 USD out, gpt-5-pro's
price: more than any listed model), so an unknown model can only make the cap bite early. The "pro"
reasoning tier (o1-pro, o3-pro) costs more still and must be priced by hand: a user whose model,
server or contract differs sets both `*_price_per_million_usd` fields (0 for a free local server),
which replace the table. A dated snapshot (`gpt-4o-mini-2024-07-18`) is priced as its model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_MODEL = "gpt-4o-mini"
OPENAI_BASE_URL = "https://api.openai.com/v1"
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
URL_PATTERN = re.compile(r"^https?://[^\s/@]+(/[^\s@]*)?$")  # no user:password@ part: settings are not secret
MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input (prompt) and output (completion) tokens."""

    input_per_million: Decimal
    output_per_million: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """The exact USD cost of a call with these token counts."""
        total = input_tokens * self.input_per_million + output_tokens * self.output_per_million
        return total / MILLION


def _price(input_usd: str, output_usd: str) -> ModelPrice:
    return ModelPrice(Decimal(input_usd), Decimal(output_usd))


# OpenAI list prices (standard tier, USD per 1M tokens) as published in 2025; check before relying on them.
PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4o": _price("2.50", "10.00"),
    "gpt-4.1-nano": _price("0.10", "0.40"),
    "gpt-4.1-mini": _price("0.40", "1.60"),
    "gpt-4.1": _price("2.00", "8.00"),
    "gpt-5-nano": _price("0.05", "0.40"),
    "gpt-5-mini": _price("0.25", "2.00"),
    "gpt-5": _price("1.25", "10.00"),
    "o4-mini": _price("1.10", "4.40"),
    "o3": _price("2.00", "8.00"),
}
UNKNOWN_MODEL_PRICE = _price("15.00", "120.00")
SNAPSHOT_SUFFIX = r"-\d{4}(-\d{2}-\d{2})?"  # gpt-4o-2024-08-06, o3-mini-2025-01-31, gpt-4-0613


class AiSettings(BaseModel):
    """A user's AI review settings (not secret; the API key is stored apart, encrypted)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    enabled: bool = Field(
        False, description="Use the AI review features. Needs an OpenAI API key; nothing is sent while off."
    )
    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        max_length=100,
        pattern=MODEL_PATTERN,
        description="Chat model name, e.g. gpt-4o-mini (its price sets what each call costs).",
    )
    base_url: str | None = Field(
        None,
        max_length=500,
        description="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1. Empty: OpenAI itself.",
    )
    monthly_cap_usd: Decimal = Field(
        Decimal(5),
        ge=0,
        le=10_000,
        decimal_places=4,
        description="Spending cap per calendar month (UTC), in USD. A call that could exceed it is not sent.",
    )
    timeout_seconds: float = Field(
        20.0,
        ge=0.1,
        le=300,
        allow_inf_nan=False,
        description="How long an explanation or a review waits for the model, in seconds.",
    )
    max_output_tokens: int = Field(
        600, ge=16, le=8000, description="Longest answer the model may write, in tokens (bounds each cost)."
    )
    advisor_enabled: bool = Field(
        False,
        description="Before each entry, ask the model for a go / no-go. A failure or no answer means go.",
    )
    advisor_timeout_seconds: float = Field(
        3.0,
        ge=0.1,
        le=30,
        allow_inf_nan=False,
        description="How long the entry advisor waits, in seconds; the trading loop waits this long at most.",
    )
    input_price_per_million_usd: Decimal | None = Field(
        None,
        ge=0,
        le=1000,
        decimal_places=6,
        description="Your price per million input tokens in USD; empty: the built-in table.",
    )
    output_price_per_million_usd: Decimal | None = Field(
        None,
        ge=0,
        le=1000,
        decimal_places=6,
        description="Your price per million output tokens in USD; empty: the built-in table.",
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().rstrip("/") or None
            if value is not None and not URL_PATTERN.fullmatch(value):
                raise ValueError(
                    "base_url must be an http:// or https:// URL without a user name or password"
                )
        return value

    @model_validator(mode="after")
    def _check_prices(self) -> AiSettings:
        if (self.input_price_per_million_usd is None) != (self.output_price_per_million_usd is None):
            raise ValueError("set both input and output prices, or neither")
        return self

    def price(self, table: dict[str, ModelPrice] | None = None) -> ModelPrice:
        """What this model costs: the user's own prices, else the table's entry, else the unknown price."""
        if self.input_price_per_million_usd is not None and self.output_price_per_million_usd is not None:
            return ModelPrice(self.input_price_per_million_usd, self.output_price_per_million_usd)
        return model_price(self.model, PRICES if table is None else table)

    @property
    def endpoint(self) -> str:
        """The base URL requests go to."""
        return self.base_url or OPENAI_BASE_URL


def model_price(model: str, table: dict[str, ModelPrice]) -> ModelPrice:
    """The table's price for `model` or for the model a dated snapshot names, else the unknown price."""
    if model in table:
        return table[model]
    for name, price in table.items():
        # Only a date may follow: gpt-5-pro must not get gpt-5's (eight times lower) price.
        if re.fullmatch(re.escape(name) + SNAPSHOT_SUFFIX, model):
            return price
    return UNKNOWN_MODEL_PRICE
