"""Telegram chat commands: parse a chat message, act through trading control, and word the reply.

Only messages from the user's configured chat reach `answer` (the poller checks the chat id first).
Every command that changes something goes through `trading_control` with `requested_by =
"telegram"`, so the dashboard's and `ctl`'s rules hold: a refusal writes nothing and its reason is
the reply. Two rules are stricter from a chat than elsewhere, because a chat is easier to lose than
the machine: `/start` starts only in TEST (a LIVE start needs the explicit confirmation of the
dashboard or `ctl --confirm-live`), and no chat command ever names a mode, so none switches to LIVE.
`/forcesell` needs a reason and an open position of the bot's; coins adopted from the account are the
user's and are never sold from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradebot.core.errors import SettingsError
from tradebot.services.desired_state import desired_state
from tradebot.services.notifications.chat_reports import daily_text, profit_text, status_text
from tradebot.services.records import CommandKind, Mode
from tradebot.services.storage import Store
from tradebot.services.trading_control import build_request, submit_command

REQUESTED_BY = "telegram"
MAX_DAYS = 3650
CONTROL_KINDS: dict[str, CommandKind] = {
    "pause": "pause", "resume": "resume", "stop": "stop", "start": "start", "forcesell": "force_sell",
}  # fmt: skip
REPORTS = frozenset({"status", "profit", "daily", "help"})
HELP_TEXT = "\n".join(
    [
        "/status - state, mode, positions with entry/stop/target, equity",
        "/profit [days] - realised profit and win rate (all time, or the last N days)",
        "/daily - realised profit per day, last 7 days (KST)",
        "/pause - keep guarding positions, open no new ones",
        "/resume - open positions again",
        "/stop - stop the user's loop",
        "/start - start the loop in TEST (LIVE: use the dashboard or ctl)",
        "/forcesell <reason> - sell the open position now",
        "/help - this list",
    ]
)


@dataclass(frozen=True, slots=True)
class ChatCommand:
    """A parsed command: its name (without the slash) and the text after it."""

    name: str
    argument: str


def parse(text: str) -> ChatCommand | None:
    """`/name[@bot] argument` as a command; None for a message that is not a command."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return None
    head, _, rest = stripped.partition(" ")
    name = head[1:].split("@", 1)[0].lower()  # "/status@MyBot" in a group names the bot
    return ChatCommand(name=name, argument=rest.strip()) if name else None


def answer(store: Store, username: str, text: str, now: datetime) -> str | None:
    """The reply to a chat message (None: not a command, no reply); changes go through trading control."""
    command = parse(text)
    if command is None:
        return None
    try:
        if command.name in REPORTS:
            return report(store, username, command, now)
        if command.name in CONTROL_KINDS:
            return control(store, username, command, now)
    except SettingsError as refusal:
        return f"refused: {refusal}"
    return f"unknown command /{command.name}; /help lists the commands"


def report(store: Store, username: str, command: ChatCommand, now: datetime) -> str:
    """The answer of a read-only command."""
    if command.name == "status":
        return status_text(store, username, now)
    if command.name == "profit":
        return profit_text(store, now, parse_days(command.argument))
    if command.name == "daily":
        return daily_text(store, now)
    return HELP_TEXT


def parse_days(argument: str) -> int | None:
    """`/profit`'s optional number of days; SettingsError for anything else."""
    if not argument:
        return None
    if not argument.isdigit() or not 1 <= int(argument) <= MAX_DAYS:
        raise SettingsError(f"/profit takes a number of days from 1 to {MAX_DAYS}, e.g. /profit 7")
    return int(argument)


def control(store: Store, username: str, command: ChatCommand, now: datetime) -> str:
    """Queue a pause, resume, stop, start or force sell; the reply names the command id."""
    kind = CONTROL_KINDS[command.name]
    desired = desired_state(store)
    if kind == "start" and desired.mode == "LIVE":
        raise SettingsError(
            "the user trades LIVE: start it from the dashboard or with ctl start --confirm-live"
        )
    if kind == "force_sell":
        held = [item for item in store.positions(desired.mode) if item.origin == "bot"]
        if not held:
            raise SettingsError(f"no open {desired.mode} position of the bot's: nothing to sell")
        if not command.argument:
            raise SettingsError("/forcesell needs a reason, e.g. /forcesell news")
    mode: Mode | None = "TEST" if kind == "start" else None
    request = build_request(kind, REQUESTED_BY, now, mode=mode, reason=command.argument or None)
    command_id = submit_command(store, username, request)
    return f"/{command.name} queued (command {command_id}); the engine applies it within a cycle"
