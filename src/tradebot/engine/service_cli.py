"""`tradebot engine` (every switched-on user's loop in one process) and `tradebot ctl` (commands).

Light to import, like `cli_commands`: the engine is imported when a command runs.
"""

from __future__ import annotations

import argparse
import getpass
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tradebot.core.errors import SettingsError, TradebotError
from tradebot.engine.cli_commands import SubParsers, _cycle
from tradebot.services.paths import data_home, database_path
from tradebot.services.records import Command, CommandKind, CommandRequest, EngineStatus

WAIT_SECONDS = 15.0
POLL_SECONDS = 0.1
CTL_KINDS: dict[str, CommandKind] = {
    "start": "start", "stop": "stop", "restart": "restart", "set-mode": "set_mode",
    "pause": "pause", "resume": "resume", "force-buy": "force_buy", "force-sell": "force_sell",
}  # fmt: skip
FORCE_KINDS = ("force_buy", "force_sell")
LIVE_HEARTBEAT = timedelta(seconds=60)  # a force goes only to a loop that beat this recently


def add_service_commands(commands: SubParsers) -> None:
    """Register `engine` and `ctl` on the top-level parser."""
    engine = commands.add_parser("engine", help="run the loops of every switched-on user (one per data dir)")
    engine.add_argument("--exchange-url", help="Upbit API base URL, e.g. a simulator's (default: Upbit's)")
    engine.add_argument(
        "--cycle-seconds", type=_cycle, default=5.0, help="seconds between cycles (default 5; tests use less)"
    )
    engine.add_argument(
        "--stall-seconds",
        type=_cycle,
        help="watchdog: restart a loop silent this long (default: 6 cycles, at least 30 s)",
    )
    ctl = commands.add_parser("ctl", help="send a command to the engine for one user")
    ctl.add_argument("action", choices=sorted(CTL_KINDS), help="what the engine should do")
    ctl.add_argument("--user", required=True, help="username")
    ctl.add_argument("--mode", choices=("test", "live"), help="start/restart/set-mode: TEST or LIVE")
    ctl.add_argument("--confirm-live", action="store_true", help="required for --mode live: real orders")
    ctl.add_argument("--no-wait", action="store_true", help="do not wait for the engine's acknowledgement")
    ctl.add_argument("--timeout", type=float, default=WAIT_SECONDS, help="seconds to wait (default 15)")
    ctl.add_argument("--reason", help="force-buy/force-sell: why (recorded in the audit)")


def engine_command(arguments: argparse.Namespace) -> int:
    """`tradebot engine`: hold the data directory's lock and run every user until SIGTERM/Ctrl-C."""
    import psutil

    from tradebot.core.clock import SystemClock
    from tradebot.engine.engine_manager import EngineManager, engine_id, live_loop_factory
    from tradebot.engine.engine_runner import RunnerSettings
    from tradebot.engine.lock_manager import EngineLock
    from tradebot.exchange.upbit import DEFAULT_BASE_URL

    home, clock = data_home(), SystemClock()
    url = arguments.exchange_url or DEFAULT_BASE_URL
    settings = RunnerSettings(
        home=home, exchange_url=url, engine_id=engine_id(), cycle_seconds=arguments.cycle_seconds,
        stall_seconds=arguments.stall_seconds,
    )  # fmt: skip
    with EngineLock(home):
        manager = EngineManager(settings, clock, live_loop_factory(clock), _print, process=psutil.Process())
        signal.signal(signal.SIGTERM, lambda *_: manager.stop.set())
        _print(f"engine {settings.engine_id} on {home} via {url}")
        try:
            manager.run()
        except KeyboardInterrupt:
            manager.stop.set()
            manager.join()
    _print("engine stopped")
    return 0


def ctl_command(arguments: argparse.Namespace) -> int:
    """`tradebot ctl ACTION --user NAME`: queue the command and (by default) wait for its result."""
    from tradebot.services.db import open_user_store

    request = _command_request(arguments)
    if not database_path(data_home(), arguments.user).exists():  # opening would create one
        raise SettingsError(f"no user {arguments.user}; create it with: tradebot user add NAME")
    with open_user_store(data_home(), arguments.user) as store:
        if store.user(arguments.user) is None:
            raise SettingsError(f"no user {arguments.user}; create it with: tradebot user add NAME")
        if request.kind in FORCE_KINDS:
            _require_running_loop(store.engine_status(), arguments.user)
        with store.transaction() as transaction:
            command_id = transaction.submit_command(request)
        if arguments.no_wait:
            print(f"{arguments.action} queued for {arguments.user} (command {command_id})")
            return 0
        command = _wait(store.recent_commands, command_id, arguments.timeout)
    if command is None:
        raise TradebotError(
            f"no acknowledgement within {arguments.timeout:g} s (is `tradebot engine` running?); "
            f"command {command_id} stays queued"
        )
    print(f"{arguments.user}: {arguments.action}: {command.status}: {command.result_message}")
    return 0 if command.status == "done" else 1


def _command_request(arguments: argparse.Namespace) -> CommandRequest:
    """The command the options describe; refuses inconsistent options before anything is written."""
    kind = CTL_KINDS[arguments.action]
    args: dict[str, object] = {"mode": arguments.mode.upper()} if arguments.mode else {}
    if args and kind not in ("start", "restart", "set_mode"):
        raise SettingsError(f"--mode applies to start, restart and set-mode, not {arguments.action}")
    if kind == "set_mode" and not args:
        raise SettingsError("set-mode needs --mode test or --mode live")
    if args.get("mode") == "LIVE" and not arguments.confirm_live:
        raise SettingsError("LIVE mode trades real money: confirm with --confirm-live")
    if kind in FORCE_KINDS:
        if not (arguments.reason or "").strip():
            raise SettingsError(f"{arguments.action} needs --reason (it is recorded in the audit)")
        args["reason"] = arguments.reason.strip()
    return CommandRequest(
        kind=kind, requested_by=_requester(), requested_at=datetime.now(UTC), args=args,
        live_confirmed=bool(arguments.confirm_live and args.get("mode") == "LIVE"),
    )  # fmt: skip


def _require_running_loop(status: EngineStatus | None, user: str) -> None:
    """A force order is refused here, not queued, when no loop is trading for the user."""
    alive = status is not None and status.state in ("running", "paused", "warming_up")
    if not alive or status is None or datetime.now(UTC) - status.heartbeat_at > LIVE_HEARTBEAT:
        raise SettingsError(f"the engine is not trading for {user} right now: start it first")


def _wait(recent: Callable[..., list[Command]], command_id: int, seconds: float) -> Command | None:
    deadline = time.monotonic() + seconds
    while True:
        command = next((item for item in recent(limit=200) if item.id == command_id), None)
        if command is not None and command.acknowledged_at is not None:
            return command
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS)


def _requester() -> str:
    try:
        return getpass.getuser() or "ctl"
    except (KeyError, OSError):
        return "ctl"


_lock = threading.Lock()


def _print(line: str) -> None:
    """One message, whole, even with several runner threads printing."""
    with _lock:
        print(line, flush=True)
