"""Running the simulator with uvicorn: in the foreground (the CLI) or in a background thread (tests).

The listening socket is bound before uvicorn starts, so the real port is known even for port 0
and the base URL can be printed before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType

import uvicorn

from tradebot.exchange.simulator.app import build_app
from tradebot.exchange.simulator.build import build_exchange
from tradebot.exchange.simulator.config import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    SimulatorConfig,
    SimulatorConfigError,
)
from tradebot.exchange.simulator.exchange import SimulatedExchange
from tradebot.exchange.simulator.faults import FaultInjector
from tradebot.exchange.simulator.ratelimit import Throttle
from tradebot.exchange.simulator.routes_admin import ADMIN_TOKEN_HEADER, new_admin_token
from tradebot.exchange.simulator.stream_protocol import TrackingWebSocketProtocol

STARTUP_TIMEOUT_SECONDS = 10.0
GRACEFUL_SHUTDOWN_SECONDS = 2


class SimulatorServer:
    """A simulator bound to a socket; `start()` serves it in a thread, `serve()` in the foreground.

    `clock_timer` and `rate_timer` replace `time.monotonic` for the simulated clock and for the
    rate-limit windows, so tests can control both.
    """

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock_timer: Callable[[], float] = time.monotonic,
        rate_timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.exchange: SimulatedExchange = build_exchange(config, clock_timer=clock_timer)
        self.throttle = Throttle(config.rate_limits, rate_timer)
        self.faults = FaultInjector(config.faults)
        self.admin_token = config.admin_token or new_admin_token()  # sent as X-Admin-Token to /_admin
        self.app = build_app(
            self.exchange, self.throttle, self.faults, admin_token=self.admin_token, rate_timer=rate_timer
        )
        self._socket = _bind(config.host, config.port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                lifespan="off",
                http="h11",
                ws=TrackingWebSocketProtocol,  # uvicorn's websockets (sans-I/O) + pings and abort
                ws_ping_interval=None,  # Upbit's clients keep themselves alive (120 s idle close)
                loop="asyncio",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                date_header=False,  # the gateway writes the simulated clock's `Date` instead
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def admin_headers(self) -> dict[str, str]:
        """The header every `/_admin` request sends: this run's admin token."""
        return {ADMIN_TOKEN_HEADER: self.admin_token}

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, what a client's base URL should be."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        """Serve until Ctrl-C / SIGTERM (uvicorn handles the signals in the main thread)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self) -> SimulatorServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._run_in_thread, name="upbit-simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def _run_in_thread(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        finally:
            self._socket.close()

    def stop(self, *, wait: bool = True) -> None:
        """Stop a server started with `start()`; with `wait=False`, call `join()` later."""
        self._server.should_exit = True
        if wait:
            self.join()

    def join(self) -> None:
        """Wait until a stopping server has shut down (uvicorn needs about 0.2 s)."""
        if self._thread is not None:
            self._thread.join(timeout=GRACEFUL_SHUTDOWN_SECONDS + 5)
            if self._thread.is_alive():
                raise RuntimeError("the simulator did not stop")
            self._thread = None
        self._socket.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose protocol
    # says TCP, and without it every answer waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise SimulatorConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    listener.listen(128)
    listener.setblocking(False)
    return listener


def run_simulator(config: SimulatorConfig, *, out: Callable[[str], None] = print) -> None:
    """Build, announce and serve the simulator until interrupted."""
    server = SimulatorServer(config)
    out(f"Upbit simulator listening on {server.base_url}  (markets: {', '.join(server.exchange.markets)})")
    out(f"  clock   {server.exchange.clock.now().isoformat()}  speed {config.speed:g}x")
    if config.demo_accounts:
        out(f"  demo account  access key {DEMO_ACCESS_KEY}")
        out(f"                secret key {DEMO_SECRET_KEY}")
    else:
        out(f"  accounts      {', '.join(account.access_key for account in config.accounts)}")
    out(f"  admin   /_admin/... with header {ADMIN_TOKEN_HEADER}: {server.admin_token}")
    out("          (JSON bodies only; keep this on loopback)  -  Ctrl-C stops")
    # uvicorn shuts down cleanly on Ctrl-C, then re-raises the signal as KeyboardInterrupt.
    with contextlib.suppress(KeyboardInterrupt):
        server.serve()
    out("Upbit simulator stopped")


class SimulatedTimeClock:
    """A `Clock` for code running beside an in-process simulator: its simulated time, no waiting.

    Tests and benchmarks hand it to the engine so candle closes follow the simulator's stepped
    clock; `sleep` returns at once (the broker's fill polling must not block a stopped clock).
    """

    def __init__(self, server: SimulatorServer) -> None:
        self._clock = server.exchange.clock

    def now(self) -> datetime:
        """The simulator's current time."""
        return self._clock.now()

    def monotonic(self) -> float:
        """Real monotonic seconds (durations of the bot's own work)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Return at once."""
        return
