"""`tradebot ctl ACTION --user NAME`: queue a command for the engine and wait for its answer.

Light to import: the storage code is imported when the command runs.
"""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime

from tradebot.cli.arguments import SubParsers, krw_amount
from tradebot.core.errors import SettingsError, TradebotError
from tradebot.services.paths import data_home, database_path
from tradebot.services.records import CommandKind, CommandRequest, Mode, PositionDecisionKind

WAIT_SECONDS = 15.0
CTL_KINDS: dict[str, CommandKind] = {
    "start": "start", "stop": "stop", "restart": "restart", "set-mode": "set_mode",
    "pause": "pause", "resume": "resume", "force-buy": "force_buy", "force-sell": "force_sell",
}  # fmt: skip
# The user's answer about a LIVE position an older tradebot adopted from the account (schema v4).
POSITION_ACTIONS = ("adopted", "confirm-position", "release-position")


def add_ctl_command(commands: SubParsers) -> None:
    """Register `ctl` on the top-level parser."""
    ctl = commands.add_parser("ctl", help="send a command to the engine for one user")
    ctl.add_argument(
        "action", choices=sorted([*CTL_KINDS, *POSITION_ACTIONS]),
        help="what the engine should do; adopted / confirm-position / release-position answer for a "
        "LIVE position an older version took from the account",
    )  # fmt: skip
    ctl.add_argument("--user", required=True, help="username")
    ctl.add_argument("--mode", choices=("test", "live"), help="start/restart/set-mode: TEST or LIVE")
    ctl.add_argument("--confirm-live", action="store_true", help="required for --mode live: real orders")
    ctl.add_argument("--no-wait", action="store_true", help="do not wait for the engine's acknowledgement")
    ctl.add_argument("--timeout", type=float, default=WAIT_SECONDS, help="seconds to wait (default 15)")
    ctl.add_argument("--reason", help="force-buy/force-sell: why (recorded in the audit)")
    ctl.add_argument("--market", help="confirm-position/release-position: the market, e.g. KRW-BTC")
    ctl.add_argument(
        "--entry-price", type=krw_amount, help="confirm-position: the entry price when none is known"
    )


def ctl_command(arguments: argparse.Namespace) -> int:
    """`tradebot ctl ACTION --user NAME`: queue the command and (by default) wait for its result."""
    from tradebot.core.clock import SystemClock
    from tradebot.services.storage import open_user_store
    from tradebot.services.trading_control import submit_command, wait_for_acknowledgement

    if not database_path(data_home(), arguments.user).exists():  # opening would create one
        raise SettingsError(f"no user {arguments.user}; create it with: tradebot user add NAME")
    if arguments.action in POSITION_ACTIONS:
        return _position_command(arguments)
    request = _command_request(arguments)
    with open_user_store(data_home(), arguments.user) as store:
        command_id = submit_command(store, arguments.user, request)
        if arguments.no_wait:
            print(f"{arguments.action} queued for {arguments.user} (command {command_id})")
            return 0
        command = wait_for_acknowledgement(store, command_id, arguments.timeout, SystemClock())
    if command is None:
        raise TradebotError(
            f"no acknowledgement within {arguments.timeout:g} s (is `tradebot engine` running?); "
            f"command {command_id} stays queued"
        )
    print(f"{arguments.user}: {arguments.action}: {command.status}: {command.result_message}")
    return 0 if command.status == "done" else 1


def _position_command(arguments: argparse.Namespace) -> int:
    """List adopted positions, or confirm / release one (written at once; the engine reads it)."""
    from tradebot.services.storage import open_user_store
    from tradebot.services.trading_control import adopted_positions, decide_adopted_position

    with open_user_store(data_home(), arguments.user, create=False) as store:
        if arguments.action == "adopted":
            waiting = adopted_positions(store)
            for item in waiting:
                entry = "unknown" if item.entry_price is None else f"{item.entry_price:,}"
                print(
                    f"{item.market}: {item.volume} held, entry {entry}: confirm-position or release-position"
                )
            if not waiting:
                print(f"{arguments.user}: no position waits for a decision")
            return 0
        if not arguments.market:
            raise SettingsError(f"{arguments.action} needs --market")
        decision: PositionDecisionKind = "confirm" if arguments.action == "confirm-position" else "release"
        now = datetime.now(UTC)
        decide_adopted_position(store, arguments.market, decision, _requester(), now, arguments.entry_price)
    outcome = "is the bot's from now on" if decision == "confirm" else "released: the coins are yours"
    print(f"{arguments.user}: {arguments.market} {outcome}")
    return 0


def _command_request(arguments: argparse.Namespace) -> CommandRequest:
    """The command the options describe; refuses inconsistent options before anything is written."""
    from tradebot.services.trading_control import build_request

    mode: Mode | None = "LIVE" if arguments.mode == "live" else "TEST" if arguments.mode == "test" else None
    kind = CTL_KINDS[arguments.action]
    if mode == "LIVE" and not arguments.confirm_live:  # the same rules, worded with the CLI's options
        raise SettingsError("LIVE mode trades real money: confirm with --confirm-live")
    if kind in ("force_buy", "force_sell") and not (arguments.reason or "").strip():
        raise SettingsError(f"{arguments.action} needs --reason (it is recorded in the audit)")
    return build_request(
        kind, _requester(), datetime.now(UTC), mode=mode,
        confirm_live=bool(arguments.confirm_live), reason=arguments.reason,
    )  # fmt: skip


def _requester() -> str:
    try:
        return getpass.getuser() or "ctl"
    except (KeyError, OSError):
        return "ctl"
