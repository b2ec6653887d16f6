"""Row types of the per-user database: what `services.storage` reads and writes.

Frozen, keyword-only dataclasses; value sets are `Literal` types (stored as text in STRICT tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from tradebot.core.models import Interval
from tradebot.core.params import SettingsKind
from tradebot.core.strategy import Action, ConditionResult

DEFAULT_STARTING_KRW = Decimal(1_000_000)

Mode = Literal["TEST", "LIVE"]
Side = Literal["bid", "ask"]  # Upbit's names: bid buys, ask sells
OrderType = Literal["limit", "price", "market", "best"]
# `requested` is recorded before the order is sent; `rejected` carries Upbit's error name.
OrderStatus = Literal["requested", "wait", "watch", "done", "cancel", "rejected"]
EngineState = Literal["stopped", "warming_up", "running", "paused", "failed"]
CommandKind = Literal["start", "stop", "restart", "set_mode", "force_buy", "force_sell", "pause", "resume"]
# pending -> claimed by exactly one engine -> done, failed or rejected
CommandStatus = Literal["pending", "claimed", "done", "failed", "rejected"]
TradeCause = Literal["strategy", "force", "recovery", "manual"]
# `bot`: the bot's own fills made the position. `adopted`: an older tradebot took it from the
# account's balance; it waits for the user to confirm it as the bot's or release it (schema v4).
PositionOrigin = Literal["bot", "adopted"]
PositionDecisionKind = Literal["confirm", "release"]
# A sell evaluation made on a candle close, or on a price rule firing between closes.
TriggerKind = Literal["close", "tick"]
ACKNOWLEDGEMENTS: tuple[CommandStatus, ...] = ("done", "failed", "rejected")
UNFINISHED = "('requested', 'wait', 'watch')"  # order states still to follow up


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """The file's user; `password_hash` is a bcrypt hash or None, never a password."""

    username: str
    password_hash: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeys:
    """A user's Upbit key pair, encrypted (see `services.secrets`); never stored in clear."""

    username: str
    access_key_ciphertext: bytes
    secret_key_ciphertext: bytes
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountBalance:
    """The KRW balance of one mode."""

    mode: Mode
    krw_balance: Decimal
    starting_krw: Decimal = DEFAULT_STARTING_KRW
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """The bot's holding in one market: its own fills only (TRADING_RULES "Positions the bot owns").

    `entry_price` None means unknown, which the engine must treat as an alarm. An `adopted`
    position is not the bot's until the user confirms it: it is neither sold nor counted.
    """

    mode: Mode
    market: str
    volume: Decimal
    entry_price: Decimal | None
    peak_price: Decimal | None
    entry_candle_start: datetime | None
    bars_held: int
    updated_at: datetime
    origin: PositionOrigin = "bot"


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionDecision:
    """The user's answer about an adopted position: the bot's (`confirm`) or the user's (`release`)."""

    mode: Mode
    market: str
    decision: PositionDecisionKind
    volume: Decimal
    entry_price: Decimal | None
    decided_by: str
    decided_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOrder:
    """An order about to be sent; `price` is the KRW total for `ord_type='price'` market buys."""

    identifier: str
    mode: Mode
    market: str
    side: Side
    ord_type: OrderType
    price: Decimal | None
    volume: Decimal | None
    candle_start: datetime | None
    requested_at: datetime
    # Why it was sent (schema v4), so an order finished after a restart keeps its audit.
    cause: TradeCause | None = None
    rule: str | None = None
    command_id: int | None = None
    requested_by: str | None = None
    note: str | None = None
    params_version: int | None = None
    conditions_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdate:
    """What the exchange answered about an order; None leaves the stored value as it is."""

    state: OrderStatus
    updated_at: datetime
    uuid: str | None = None
    executed_volume: Decimal | None = None
    average_price: Decimal | None = None
    paid_fee: Decimal | None = None
    error_name: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOrder(PendingOrder):
    """An order row as stored."""

    uuid: str | None
    state: OrderStatus
    executed_volume: Decimal | None
    average_price: Decimal | None
    paid_fee: Decimal | None
    error_name: str | None
    error_message: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class BuyEvaluation:
    """One closed candle evaluated while flat (`buy_eval`, keyed by market, interval, candle start)."""

    market: str
    interval: Interval
    candle_start: datetime
    price: Decimal
    macd: float | None
    signal: float | None
    hist: float | None
    conditions: dict[str, ConditionResult]
    decision: Action
    reason: str
    params_version: int
    conditions_version: int
    evaluated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SellEvaluation:
    """One closed candle in a position, or one price-rule trigger between closes (`sell_eval`)."""

    market: str
    interval: Interval
    candle_start: datetime
    trigger_kind: TriggerKind
    price: Decimal
    entry_price: Decimal
    peak_price: Decimal
    stop_loss_price: Decimal
    take_profit_price: Decimal
    trailing_stop_price: Decimal
    bars_held: int
    macd: float | None = None
    signal: float | None = None
    hist: float | None = None
    rules: dict[str, ConditionResult]
    decision: Action
    reason: str
    trigger_rule: str | None
    params_version: int
    conditions_version: int
    evaluated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TradeAudit:
    """One executed trade, the settings in force and what caused it (who and why for a force)."""

    mode: Mode
    market: str
    side: Side
    fill_price: Decimal
    volume: Decimal
    fee: Decimal
    params_version: int
    conditions_version: int
    cause: TradeCause
    executed_at: datetime
    interval: Interval | None = None
    candle_start: datetime | None = None
    order_identifier: str | None = None
    order_uuid: str | None = None
    realised_profit: Decimal | None = None
    rule: str | None = None
    command_id: int | None = None
    requested_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRequest:
    """A command from the dashboard; `args` is a JSON object (e.g. {"reason": ...} for a force)."""

    kind: CommandKind
    requested_by: str
    requested_at: datetime
    args: dict[str, object] = field(default_factory=dict)
    live_confirmed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(CommandRequest):
    """A command row with its acknowledgement."""

    id: int
    status: CommandStatus
    claimed_by: str | None
    claimed_at: datetime | None
    result_message: str | None
    acknowledged_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatus:
    """The engine's single status and heartbeat row."""

    state: EngineState
    mode: Mode
    heartbeat_at: datetime
    engine_id: str | None = None
    last_fetch_at: datetime | None = None
    last_closed_candle: datetime | None = None
    last_cycle_duration: timedelta | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsVersion:
    """One saved version of the params or the conditions, as canonical JSON."""

    version: int
    kind: SettingsKind
    content: str
    content_hash: str
    saved_at: datetime
    saved_by: str
