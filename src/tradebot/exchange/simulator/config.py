"""The simulator's configuration and accounts file, with one-line errors (the CLI's contract).

The accounts file is a JSON list:
`[{"access_key": "...", "secret_key": "...", "balances": {"KRW": "1000000", "BTC": "0.5"}}]`.
Without one, a single demo account is created.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from tradebot.core.errors import TradebotError
from tradebot.core.krw_rules import DEFAULT_FEE_RATE
from tradebot.core.params import MARKET_PATTERN
from tradebot.exchange.simulator.faults import FaultSettings
from tradebot.exchange.simulator.ratelimit import RateLimitSettings

CURRENCY_CODE = re.compile(r"^[A-Z0-9]{1,10}$")
DEMO_ACCESS_KEY = "simulator-demo-access-key"
# Not a secret: it only opens the demo account of a simulator bound to loopback.
DEMO_SECRET_KEY = "simulator-demo-secret-key-0000000000000"  # noqa: S105
DEMO_BALANCES = {"KRW": Decimal(10_000_000)}
MAX_SPREAD_TICKS = 100  # best ask above the best bid; 0 puts both at the last price


class SimulatorConfigError(TradebotError):
    """The simulator's options or accounts file are invalid (one-line message)."""


class AccountConfig(BaseModel):
    """One account: a key pair and starting balances (currency -> amount)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_key: str = Field(min_length=1, max_length=200)
    secret_key: str = Field(min_length=1, max_length=500, repr=False)
    balances: dict[str, Decimal] = Field(default_factory=dict)

    @field_validator("balances")
    @classmethod
    def _check_balances(cls, balances: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, amount in balances.items():
            if not CURRENCY_CODE.match(currency):
                raise ValueError(f"currency {currency!r} is not a code like KRW or BTC")
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"balance of {currency} must be a number >= 0, got {amount}")
        return balances


class SimulatorConfig(BaseModel):
    """Everything `tradebot simulator` can be told."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    markets: list[str] = Field(default_factory=lambda: ["KRW-BTC", "KRW-ETH"], min_length=1)
    seed: int = 7
    speed: float = Field(default=1.0, ge=0, le=1_000_000)
    data: list[Path] = Field(default_factory=list)
    accounts: list[AccountConfig] = Field(default_factory=list)
    start: datetime | None = None
    history_days: int = Field(default=200, ge=1, le=2000)
    replay_warmup: int = Field(default=200, ge=0)
    fee_rate: Decimal = Field(default=DEFAULT_FEE_RATE, ge=0, lt=1)
    spread_ticks: int = Field(default=1, ge=0, le=MAX_SPREAD_TICKS)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    admin_token: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        repr=False,
        description="token /_admin requests must send in X-Admin-Token; None: a random one per run",
    )

    @field_validator("markets")
    @classmethod
    def _check_markets(cls, markets: list[str]) -> list[str]:
        for market in markets:
            if not MARKET_PATTERN.fullmatch(market):
                raise ValueError(f"market {market!r} is not a KRW market code like KRW-BTC")
        if len(set(markets)) != len(markets):
            raise ValueError("markets are listed twice")
        return markets

    @field_validator("accounts")
    @classmethod
    def _check_accounts(cls, accounts: list[AccountConfig]) -> list[AccountConfig]:
        keys = [account.access_key for account in accounts]
        if len(set(keys)) != len(keys):
            raise ValueError("two accounts share an access key")
        return accounts

    @field_validator("start")
    @classmethod
    def _check_start(cls, start: datetime | None) -> datetime | None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must carry a UTC offset, e.g. 2026-03-22T12:47:08Z")
        return start

    @property
    def demo_accounts(self) -> bool:
        """True when no accounts were given and the demo account is used."""
        return not self.accounts

    def effective_accounts(self) -> list[AccountConfig]:
        """The configured accounts, or the demo account."""
        if self.accounts:
            return self.accounts
        return [AccountConfig(access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY, balances=DEMO_BALANCES)]


def one_line(error: ValidationError) -> str:
    """The first problem of a pydantic error as `field: message`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def build_config(**values: object) -> SimulatorConfig:
    """A validated config, or `SimulatorConfigError` with one line."""
    try:
        return SimulatorConfig.model_validate(values)
    except ValidationError as error:
        raise SimulatorConfigError(f"simulator: {one_line(error)}") from None


def load_accounts(path: Path) -> list[AccountConfig]:
    """The accounts of a JSON accounts file; every problem is one line naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SimulatorConfigError(
            f"{path}: cannot read the accounts file ({error.strerror or error})"
        ) from None
    except UnicodeDecodeError:
        raise SimulatorConfigError(f"{path}: the accounts file is not UTF-8 text") from None
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise SimulatorConfigError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    try:
        accounts = TypeAdapter(list[AccountConfig]).validate_python(document)
    except ValidationError as error:
        raise SimulatorConfigError(f"{path}: {one_line(error)}") from None
    if not accounts:
        raise SimulatorConfigError(f"{path}: the accounts list is empty")
    return accounts
