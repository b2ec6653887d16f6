"""Trading control: the commands a person sends to the engine for one user, checked before queuing.

The dashboard and `tradebot ctl` both go through `submit_command`, so the same rules hold for both:
LIVE needs the explicit confirmation and stored keys, a force order needs a written reason and a
loop that is trading right now (a force against a stopped engine is refused here, never queued),
and nothing is written when a rule fails. The engine acknowledges each command within a cycle;
`wait_for_acknowledgement` polls for that on an injected clock.

`decide_adopted_position` is the user's answer about a position an older tradebot adopted from the
account (schema v4): it is written at once (the engine reads the position every cycle), with who
decided it and when in `position_decisions`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from tradebot.core.clock import Clock
from tradebot.core.errors import SettingsError
from tradebot.services.records import (
    Command,
    CommandKind,
    CommandRequest,
    EngineStatus,
    Mode,
    Position,
    PositionDecision,
    PositionDecisionKind,
)
from tradebot.services.storage import Store

FORCE_KINDS: frozenset[CommandKind] = frozenset({"force_buy", "force_sell"})
MODE_KINDS: frozenset[CommandKind] = frozenset({"start", "restart", "set_mode"})
LIVE_HEARTBEAT = timedelta(seconds=60)  # a force goes only to a loop that beat this recently
TRADING_STATES = frozenset({"running", "paused", "warming_up"})
POLL_SECONDS = 0.1
MAX_REASON_LENGTH = 500


def build_request(
    kind: CommandKind,
    requested_by: str,
    now: datetime,
    *,
    mode: Mode | None = None,
    confirm_live: bool = False,
    reason: str | None = None,
) -> CommandRequest:
    """The command described, or SettingsError naming the inconsistent option (nothing written)."""
    args: dict[str, object] = {}
    if mode is not None:
        if kind not in MODE_KINDS:
            raise SettingsError(f"a mode applies to start, restart and set_mode, not {kind}")
        args["mode"] = mode
    if kind == "set_mode" and mode is None:
        raise SettingsError("set_mode needs a mode: TEST or LIVE")
    if mode == "LIVE" and not confirm_live:
        raise SettingsError("LIVE mode trades real money: confirm it explicitly")
    if kind in FORCE_KINDS:
        text = (reason or "").strip()
        if not text:
            raise SettingsError(f"{kind} needs a reason (it is recorded in the audit)")
        if len(text) > MAX_REASON_LENGTH:
            raise SettingsError(f"the reason is limited to {MAX_REASON_LENGTH} characters")
        args["reason"] = text
    return CommandRequest(
        kind=kind, requested_by=requested_by, requested_at=now, args=args,
        live_confirmed=confirm_live and mode == "LIVE",
    )  # fmt: skip


def submit_command(store: Store, username: str, request: CommandRequest) -> int:
    """Queue `request` for the engine after checking it against the user's state; its command id."""
    if store.user(username) is None:
        raise SettingsError(f"no user {username}; create it with: tradebot user add NAME")
    if request.args.get("mode") == "LIVE" and store.api_keys(username) is None:
        raise SettingsError(f"no Upbit keys stored for {username}: save them before switching to LIVE")
    if request.kind in FORCE_KINDS:
        require_trading_loop(store.engine_status(), username, request.requested_at)
    with store.transaction() as transaction:
        return transaction.submit_command(request)


def require_trading_loop(status: EngineStatus | None, username: str, now: datetime) -> None:
    """Refuse (SettingsError) unless a loop is trading for the user with a recent heartbeat."""
    alive = status is not None and status.state in TRADING_STATES
    if not alive or status is None or now - status.heartbeat_at > LIVE_HEARTBEAT:
        raise SettingsError(f"the engine is not trading for {username} right now: start it first")


def find_command(store: Store, command_id: int) -> Command | None:
    """The command row `command_id`, if it is among the recent ones."""
    return next((item for item in store.recent_commands(limit=200) if item.id == command_id), None)


def wait_for_acknowledgement(store: Store, command_id: int, seconds: float, clock: Clock) -> Command | None:
    """The command once the engine acknowledged it, or None after `seconds`."""
    deadline = clock.monotonic() + seconds
    while True:
        command = find_command(store, command_id)
        if command is not None and command.acknowledged_at is not None:
            return command
        if clock.monotonic() >= deadline:
            return None
        clock.sleep(POLL_SECONDS)


def adopted_positions(store: Store) -> list[Position]:
    """LIVE positions taken from the account by an older tradebot, waiting for the user's decision."""
    return [item for item in store.positions("LIVE") if item.origin == "adopted"]


def decide_adopted_position(
    store: Store,
    market: str,
    decision: PositionDecisionKind,
    decided_by: str,
    now: datetime,
    entry_price: Decimal | None = None,
) -> Position | None:
    """Confirm an adopted LIVE position as the bot's, or release it to the user; returns the new row.

    `confirm`: from now on the bot guards and sells it like its own; it needs an entry price (the
    stored one, or `entry_price`), since the price exits are computed from it. `release`: the row is
    removed and the coins stay in the wallet as the user's, never counted or sold. SettingsError
    (nothing written) when there is no such adopted position or the entry price is missing.
    """
    with store.transaction() as transaction:
        found = next(
            (
                item
                for item in transaction.positions("LIVE")
                if item.market == market and item.origin == "adopted"
            ),
            None,
        )
        if found is None:
            raise SettingsError(f"no LIVE position in {market} is waiting for a decision")
        if entry_price is not None and entry_price <= 0:
            raise SettingsError("the entry price must be positive")
        entry = entry_price if entry_price is not None else found.entry_price
        if decision == "confirm" and entry is None:
            raise SettingsError(f"{market}: the entry price is unknown; give it to confirm the position")
        transaction.record_position_decision(
            PositionDecision(
                mode="LIVE", market=market, decision=decision, volume=found.volume, entry_price=entry,
                decided_by=decided_by, decided_at=now,
            )
        )  # fmt: skip
        if decision == "release":
            transaction.clear_position("LIVE", market)
            return None
        peak = max(found.peak_price or entry, entry) if entry is not None else None
        confirmed = replace(found, origin="bot", entry_price=entry, peak_price=peak, updated_at=now)
        transaction.set_position(confirmed)
        return confirmed
