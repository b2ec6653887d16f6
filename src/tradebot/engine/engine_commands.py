"""The engine's side of the `commands` table: claim each pending command, apply it, acknowledge it.

start, stop, restart, set_mode, pause and resume take effect in the cycle that claims them. A
command that cannot be honoured is acknowledged `rejected` with the reason (LIVE without the
confirmation flag or without stored keys, an unknown mode, a kind this engine does not run).
The applier sees the user's runner only through `CommandTarget`, so it never reaches into
`engine_runner` (which calls it) and a test can hand it a small fake.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Protocol

from tradebot.core.clock import Clock
from tradebot.engine.loop_types import ForceRefused
from tradebot.services.desired_state import DesiredState, command_mode
from tradebot.services.records import Command, CommandStatus, EngineState, Mode, Side
from tradebot.services.storage import Store

FORCE_MAX_AGE = timedelta(seconds=60)  # an old force order is a decision about an old market


class CommandLoop(Protocol):
    """What a command changes in a running trading loop."""

    paused: bool

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        """Send a force order now and say what was done; ForceRefused when it cannot be."""
        ...


class CommandTarget(Protocol):
    """What applying a command needs of the user's runner (`engine_runner.UserRunner`)."""

    desired: DesiredState  # what the user asked for; a command changes it

    @property
    def username(self) -> str:
        """The user whose commands these are."""
        ...

    @property
    def store(self) -> Store:
        """The user's database: the commands table and the stored keys."""
        ...

    @property
    def clock(self) -> Clock:
        """The engine's clock (claim and acknowledgement times, a force order's age)."""
        ...

    @property
    def engine_id(self) -> str:
        """This engine's name, recorded on the commands it claims."""
        ...

    @property
    def loop(self) -> CommandLoop | None:
        """The running trading loop, None when none runs."""
        ...

    @property
    def last_crash(self) -> str | None:
        """Why the loop last failed to start or crashed."""
        ...

    def start_loop(self) -> bool:
        """(Re)start the loop in the desired state; False when it did not start."""
        ...

    def close_loop(self) -> None:
        """Stop the loop."""
        ...

    def reset_failures(self) -> None:
        """Forget earlier crashes (a start un-parks a failed user)."""
        ...

    def write_status(self, state: EngineState, error: str | None) -> None:
        """Record the engine's state for the user."""
        ...

    def say(self, message: str) -> None:
        """Report one line about the user."""
        ...


class Rejected(Exception):  # noqa: N818 - an outcome, not a failure of the engine
    """The command is refused; the message says why."""


def fail_abandoned_commands(runner: CommandTarget) -> None:
    """Acknowledge commands a previous engine claimed but never finished (it died in between).

    Only one engine runs per data directory (the lock), so at start every `claimed` command was
    abandoned. It is failed with a message rather than re-run: re-running is the sender's call.
    """
    abandoned = [
        command for command in runner.store.recent_commands(limit=1000) if command.status == "claimed"
    ]
    for command in abandoned:
        with runner.store.transaction() as transaction:
            transaction.acknowledge_command(
                command.id,
                status="failed",
                message="the engine stopped before finishing this command; send it again",
                acknowledged_at=runner.clock.now(),
            )
        runner.say(f"{command.kind} by {command.requested_by}: failed: abandoned by a stopped engine")


def apply_pending_commands(runner: CommandTarget) -> None:
    """Claim and apply every pending command of the runner's user, oldest first."""
    while True:
        with runner.store.transaction() as transaction:
            command = transaction.claim_next_command(
                engine_id=runner.engine_id, claimed_at=runner.clock.now()
            )
        if command is None:
            return
        status: CommandStatus = "done"
        try:
            message = _apply(runner, command)
        except Rejected as error:
            status, message = "rejected", str(error)
        except Exception as error:  # acknowledged as failed, the engine goes on
            status, message = "failed", f"{type(error).__name__}: {error}"
        with runner.store.transaction() as transaction:
            transaction.acknowledge_command(
                command.id, status=status, message=message, acknowledged_at=runner.clock.now()
            )
        runner.say(f"{command.kind} by {command.requested_by}: {status}: {message}")


def _apply(runner: CommandTarget, command: Command) -> str:
    if command.kind in ("start", "restart", "set_mode"):
        return _start(runner, command)
    if command.kind == "stop":
        runner.desired = replace(runner.desired, running=False)
        runner.close_loop()
        runner.reset_failures()
        runner.write_status("stopped", None)
        return "stopped"
    if command.kind in ("pause", "resume"):
        paused = command.kind == "pause"
        runner.desired = replace(runner.desired, paused=paused)
        if runner.loop is None:
            return f"{'paused' if paused else 'resumed'} (applies when the loop runs)"
        runner.loop.paused = paused
        return "paused: no new entries, exits keep running" if paused else "resumed"
    if command.kind in ("force_buy", "force_sell"):
        return _force(runner, command)
    raise Rejected(f"{command.kind} is not supported by this engine")


def _force(runner: CommandTarget, command: Command) -> str:
    """Force buy / sell now, audited with who asked and why; never queued for later."""
    age = runner.clock.now() - command.requested_at
    if age > FORCE_MAX_AGE:
        raise Rejected(
            f"expired: sent {age.total_seconds():.0f} s ago, older than {FORCE_MAX_AGE}; send it again"
        )
    if runner.loop is None:
        raise Rejected("the engine is not trading for this user: start it first")
    reason = str(command.args.get("reason") or "").strip()
    if not reason:
        raise Rejected("a force command needs a reason")
    side: Side = "bid" if command.kind == "force_buy" else "ask"
    try:
        return runner.loop.force(side, command.id, command.requested_by, reason)
    except ForceRefused as refusal:
        raise Rejected(str(refusal)) from None


def _start(runner: CommandTarget, command: Command) -> str:
    mode = _mode(runner, command)
    confirmed = command.live_confirmed if mode == "LIVE" else False
    if mode == "LIVE" and not command.live_confirmed:
        raise Rejected("LIVE mode trades real money: the command needs the LIVE confirmation")
    if mode == "LIVE" and runner.store.api_keys(runner.username) is None:
        raise Rejected(f"no Upbit keys stored for {runner.username}: LIVE refused")
    old = runner.desired
    if command.kind == "set_mode" and not old.running:
        runner.desired = replace(old, mode=mode, live_confirmed=confirmed)
        return f"mode set to {mode} (not running)"
    running_same = runner.loop is not None and old.mode == mode
    if command.kind == "start" and running_same:
        return f"already running in {mode}"
    if command.kind == "set_mode" and running_same:
        return f"already in {mode}"
    paused = old.paused and command.kind == "set_mode"
    runner.desired = DesiredState(running=True, mode=mode, live_confirmed=confirmed, paused=paused)
    runner.reset_failures()
    if runner.start_loop():
        return f"running in {mode}"
    return f"accepted, but the loop did not start: {runner.last_crash}; retrying"


def _mode(runner: CommandTarget, command: Command) -> Mode:
    if "mode" not in command.args:
        if command.kind == "set_mode":
            raise Rejected("set_mode needs a mode (TEST or LIVE)")
        return runner.desired.mode
    mode = command_mode(command)
    if mode is None:
        raise Rejected(f"unknown mode {command.args['mode']!r}: use TEST or LIVE")
    return mode
