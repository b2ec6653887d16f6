"""Each user's desired state (running or not, which mode, paused), derived from their commands.

No extra table: the desired state is what the user's acknowledged (`done`) start, stop, restart,
set_mode, pause and resume commands say, newest first. The engine acknowledges a command only
after applying it, so the history is the record of what was asked and accepted, and it survives
any engine restart with the user's database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tradebot.services.records import Command, Mode
from tradebot.services.storage import Reader

HISTORY_LIMIT = 1_000
RUNNING_KINDS = frozenset({"start", "stop", "restart"})
MODE_KINDS = frozenset({"start", "restart", "set_mode"})
PAUSE_KINDS = frozenset({"pause", "resume", "start", "restart"})


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What the user asked for: running or not, in which mode, paused or not."""

    running: bool = False
    mode: Mode = "TEST"
    live_confirmed: bool = False
    paused: bool = False


def command_mode(command: Command) -> Mode | None:
    """The mode a command names in its args (`{"mode": "LIVE"}`), if any."""
    value = command.args.get("mode")
    if not isinstance(value, str):
        return None
    upper = value.upper()
    return "LIVE" if upper == "LIVE" else "TEST" if upper == "TEST" else None


def fold_commands(newest_first: Iterable[Command]) -> DesiredState:
    """The desired state the acknowledged commands describe (newest first)."""
    running: bool | None = None
    mode: Mode | None = None
    confirmed = False
    paused: bool | None = None
    for command in newest_first:
        if command.status != "done":
            continue
        if running is None and command.kind in RUNNING_KINDS:
            running = command.kind != "stop"
        if mode is None and command.kind in MODE_KINDS and command_mode(command) is not None:
            mode, confirmed = command_mode(command), command.live_confirmed
        if paused is None and command.kind in PAUSE_KINDS:
            paused = command.kind == "pause"
    return DesiredState(
        running=bool(running), mode=mode or "TEST", live_confirmed=confirmed and mode == "LIVE",
        paused=bool(paused),
    )  # fmt: skip


def desired_state(reader: Reader) -> DesiredState:
    """The user's desired state from their command history."""
    return fold_commands(reader.recent_commands(limit=HISTORY_LIMIT))
