"""`tradebot demo` and `tradebot up`: the engine and the dashboard (and for the demo, a simulator) at once.

`demo` starts the Upbit simulator on loopback, a demo user trading in TEST mode, the engine and the
dashboard, and prints the URL and the demo login. `up` does the same against the real Upbit
quotation API (TEST mode needs no keys), with the users of the data directory. The engine and the
dashboard are child processes (their output goes to log files in the data directory); Ctrl-C or
SIGTERM stops all of them, and if one of them dies the others are stopped too, with the log's tail.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tradebot.cli.arguments import SubParsers
from tradebot.core.errors import TradebotError
from tradebot.services.desired_state import desired_state
from tradebot.services.file_modes import prepare_private_home
from tradebot.services.paths import HOME_VARIABLE, data_home, database_path
from tradebot.services.records import CommandRequest
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import params_path

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed on screen: a local demo login, not a secret
DEMO_MARKETS = ["KRW-BTC", "KRW-ETH"]
DEMO_HOME = "demo-data"
APP_PATH = Path(__file__).resolve().parents[1] / "ui" / "app.py"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
EXCHANGE_URL_VARIABLE = "TRADEBOT_EXCHANGE_URL"


@dataclass(frozen=True, slots=True)
class StackOptions:
    """What to start, where."""

    home: Path
    exchange_url: str | None  # None: start the simulator (demo)
    dashboard_port: int
    simulator_port: int
    speed: float
    cycle_seconds: float


def add_launch_commands(commands: SubParsers) -> None:
    """Register `demo` and `up`."""
    demo = commands.add_parser("demo", help="simulator + engine + dashboard with a demo user (loopback)")
    demo.add_argument("--home", type=Path, help=f"data directory (default ./{DEMO_HOME})")
    demo.add_argument("--speed", type=float, default=6.0, help="simulated seconds per second (default 6)")
    demo.add_argument("--simulator-port", type=int, default=8555, help="simulator port (0: any free one)")
    _common(demo)
    up = commands.add_parser("up", help="engine + dashboard against the real Upbit (TEST mode needs no keys)")
    up.add_argument("--exchange-url", default=None, help="Upbit API base URL (default: Upbit's)")
    _common(up)


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501; 0: any free)")
    command.add_argument("--cycle-seconds", type=float, default=5.0, help=argparse.SUPPRESS)


def demo_command(arguments: argparse.Namespace) -> int:
    """`tradebot demo`."""
    home = (arguments.home or _demo_home()).absolute()
    options = StackOptions(home, None, arguments.port, arguments.simulator_port, arguments.speed,
                           arguments.cycle_seconds)  # fmt: skip
    return run_stack(options)


def up_command(arguments: argparse.Namespace) -> int:
    """`tradebot up`."""
    from tradebot.exchange.upbit import DEFAULT_BASE_URL

    url = arguments.exchange_url or DEFAULT_BASE_URL
    return run_stack(StackOptions(data_home(), url, arguments.port, 0, 1.0, arguments.cycle_seconds))


def _demo_home() -> Path:
    configured = os.environ.get(HOME_VARIABLE, "").strip()
    return Path(configured) if configured else Path(DEMO_HOME)


def run_stack(options: StackOptions) -> int:
    """Start everything, print where to look, and wait for Ctrl-C / SIGTERM or a child's death."""
    prepare_private_home(options.home, lambda line: print(line, flush=True))  # the demo's home too
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        url = options.exchange_url or stack.enter_context(_simulator(options))
        if options.exchange_url is None:
            _prepare_demo_user(options.home)
        engine = stack.enter_context(
            child_process("engine", engine_command_line(url, options.cycle_seconds), options.home)
        )
        dashboard_port = options.dashboard_port or free_port()
        command = dashboard_command_line(dashboard_port)
        dashboard = stack.enter_context(child_process("dashboard", command, options.home, url))
        wait_healthy(f"http://127.0.0.1:{dashboard_port}/_stcore/health", dashboard)
        _announce(options, url, dashboard_port)
        try:
            _watch((engine, dashboard), stop)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
    print("stopped: dashboard, engine" + ("" if options.exchange_url else ", simulator"), flush=True)
    return 0


@dataclass
class Child:
    """A child process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20) -> str:
        """The last lines of the child's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def child_process(
    name: str, command: list[str], home: Path, exchange_url: str | None = None
) -> Iterator[Child]:
    """Run `command` with `home` as the data directory, its output in `{home}/{name}.log`."""
    environment = dict(os.environ, PYTHONUNBUFFERED="1")
    environment[HOME_VARIABLE] = str(home)
    if exchange_url is not None:
        environment[EXCHANGE_URL_VARIABLE] = exchange_url
    log = home / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own commands, fixed arguments
            command, env=environment, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us only; we stop the children in order
        )  # fmt: skip
    child = Child(name, process, log)
    try:
        yield child
    finally:
        _terminate(child)


def _terminate(child: Child) -> None:
    if child.process.poll() is not None:
        return
    child.process.send_signal(signal.SIGTERM)
    try:
        child.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.process.kill()
        child.process.wait()


@contextmanager
def _simulator(options: StackOptions) -> Iterator[str]:
    from tradebot.exchange.simulator import build_config
    from tradebot.exchange.simulator.server import SimulatorServer

    config = build_config(port=options.simulator_port, markets=DEMO_MARKETS, speed=options.speed,
                          start=datetime.now(UTC), history_days=2)  # fmt: skip
    server = SimulatorServer(config).start()
    try:
        yield str(server.base_url)
    finally:
        server.stop()


def _prepare_demo_user(home: Path) -> None:
    """The demo user (created once) trading minute candles, switched on in TEST mode."""
    now = datetime.now(UTC)
    if not database_path(home, DEMO_USER).exists():
        create_user(home, DEMO_USER, DEMO_PASSWORD, now)
        path = params_path(home, DEMO_USER)
        params = json.loads(path.read_text(encoding="utf-8"))
        params.update(market=DEMO_MARKETS[0], interval="minute1", warmup_bars=60)
        path.write_text(json.dumps(params, indent=2), encoding="utf-8")
    with open_user_store(home, DEMO_USER) as store:
        if not desired_state(store).running:
            request = CommandRequest(kind="start", requested_by="demo", requested_at=now)
            with store.transaction() as transaction:
                transaction.submit_command(request)


def engine_command_line(url: str, cycle_seconds: float) -> list[str]:
    """`python -m tradebot engine` against `url`."""
    return [sys.executable, "-m", "tradebot", "engine", "--exchange-url", url,
            "--cycle-seconds", str(cycle_seconds)]  # fmt: skip


def dashboard_command_line(port: int) -> list[str]:
    """`streamlit run` of the dashboard on 127.0.0.1:`port`, headless, without telemetry."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.headless", "true",
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def wait_healthy(url: str, child: Child) -> None:
    """Return once `url` answers "ok"; TradebotError (with the log's tail) if the child dies first."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise TradebotError(f"the {child.name} exited at start-up:\n{child.tail()}")
        try:
            if httpx.get(url, timeout=2.0).text.strip() == "ok":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TradebotError(f"the {child.name} did not answer on {url} within {START_TIMEOUT:g} s")


def _watch(children: tuple[Child, ...], stop: threading.Event) -> None:
    while not stop.wait(0.5):
        for child in children:
            if child.process.poll() is not None:
                raise TradebotError(
                    f"the {child.name} stopped (exit {child.process.returncode}):\n{child.tail()}"
                )


def _announce(options: StackOptions, url: str, port: int) -> None:
    lines = [f"Dashboard: http://127.0.0.1:{port}"]
    if options.exchange_url is None:
        lines += [f"Login:     {DEMO_USER} / {DEMO_PASSWORD}", f"Simulator: {url} (speed {options.speed:g}x)"]
    else:
        lines.append(f"Exchange:  {url}")
    lines += [f"Data:      {options.home} (engine.log, dashboard.log)", "Ctrl-C stops everything."]
    print("\n".join(lines), flush=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
