"""Does a notification channel that never answers slow a user's trading loop? (issue 14)

Runs the Upbit simulator in this process with a stopped clock and a TEST loop built with
`build_loop` (as tests/integration/test_live_loop.py does). Each measured cycle steps the
simulator a minute (a candle closes) and calls `loop.cycle()`; its wall time is the cycle time.
Two runs of the same number of cycles:

1. no channel configured (no notifier thread);
2. a webhook whose server accepts the connection and never answers, the user's delivery thread
   (`start_user_notifications`, as the engine starts it) running beside the loop, with a backlog
   of waiting messages so it is always inside a hanging request (each bounded by the channel's
   5-second timeout), plus every fill the loop writes.

Prints cycle-time p50 / p99 / max for both, and how many sends the hanging server swallowed.
The loop only writes outbox rows in its own transactions; it never waits for the channel, so the
two runs should match within noise.

    .venv/bin/python bench/notify_isolation.py [--cycles N] [--seed N]

Not part of the test suite; needs only the project's installed dependencies.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tradebot.core.clock import SystemClock
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.user_notifications import start_user_notifications
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatedTimeClock, SimulatorServer
from tradebot.exchange.upbit import RateLimitRegistry, UpbitSession
from tradebot.services.notifications.messages import notify_alert
from tradebot.services.notifications.outbox import counts
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path

USER = "bench"
MARKET = "KRW-BTC"
START = datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC)
WARM_UP_CYCLES = 5
BACKLOG = 50  # waiting messages before the run: the delivery thread always has one to send
MILLISECONDS = 1000.0


class HangingServer:
    """Accepts TCP connections on 127.0.0.1, reads what comes, and never answers."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._connections: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="hanging-webhook", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks/never-answers"

    @property
    def accepted(self) -> int:
        return len(self._connections)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)  # kept open, never read to the end, never answered

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for connection in self._connections:
            connection.close()


class NoWaitClock(SystemClock):
    """The client's rate-limit clock: waits return at once (the loop runs far faster than real time)."""

    def __init__(self) -> None:
        self.slept = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.slept

    def sleep(self, seconds: float) -> None:
        self.slept += max(seconds, 0.0)


def prepare_user(home: Path) -> None:
    """A TEST user that buys on any bullish candle and exits within a few candles (fills write rows)."""
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(
        market=MARKET, interval="minute1", warmup_bars=40, take_profit=0.003, stop_loss=0.003,
        trailing_stop=0.002, order_ratio=0.5,
    )  # fmt: skip
    path.write_text(json.dumps(params))
    path = conditions_path(home, USER)
    conditions = json.loads(path.read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    path.write_text(json.dumps(conditions))


def hang_notifications(home: Path, url: str) -> None:
    """Configure the hanging webhook and queue a backlog of messages for it."""
    with open_user_store(home, USER) as store:
        changes = NotifyChanges(webhook_url=url, webhook_format="json")
        save_changes(store, SecretBox.for_home(home), changes, now=START, updated_by="bench")
        with store.transaction() as transaction:
            for number in range(BACKLOG):
                notify_alert(transaction, USER, f"backlog message {number}", START)


@contextmanager
def simulator(seed: int) -> Iterator[SimulatorServer]:
    config = build_config(
        port=0, speed=0, start=START, history_days=2, markets=[MARKET], seed=seed,
        accounts=[], rate_limits={"enforce": False},
    )  # fmt: skip
    server = SimulatorServer(config).start()
    try:
        yield server
    finally:
        server.stop()


def measure(server: SimulatorServer, cycles: int, *, hanging: bool) -> tuple[list[float], int, int]:
    """Cycle wall times of one run; the sends the hanging server took and the rows left waiting."""
    with ExitStack() as resources, tempfile.TemporaryDirectory(prefix="notify-isolation-") as directory:
        home = Path(directory)
        prepare_user(home)
        hang = HangingServer() if hanging else None
        if hang is not None:
            resources.callback(hang.close)
            hang_notifications(home, hang.url)
            notifier = start_user_notifications(home, USER, SystemClock())
            resources.callback(notifier.stop, 1.0)
        session = UpbitSession(base_url=server.base_url, rate_limits=RateLimitRegistry(NoWaitClock()))
        resources.enter_context(session)
        request = RunRequest(home, USER, "TEST", server.base_url)
        loop = build_loop(request, SimulatedTimeClock(server), resources, session=session)
        loop.start()
        times = run_cycles(server, loop.cycle, cycles)
        with open_user_store(home, USER) as store:
            waiting = counts(store)["pending"]
        return times, 0 if hang is None else hang.accepted, waiting


def run_cycles(server: SimulatorServer, cycle: Callable[[], object], cycles: int) -> list[float]:
    """Step the simulator a minute and run one cycle, `cycles` times (after a warm-up); wall times."""
    times: list[float] = []
    with httpx.Client(base_url=server.base_url, headers=server.admin_headers) as admin:
        for number in range(WARM_UP_CYCLES + cycles):
            admin.post("/_admin/clock/step", json={"seconds": 60}).raise_for_status()
            started = time.perf_counter()
            cycle()
            if number >= WARM_UP_CYCLES:
                times.append(time.perf_counter() - started)
    return times


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    cells = [statistics.median(ordered), p99, ordered[-1]]
    return f"{name:<36}" + "".join(f"{value * MILLISECONDS:>10.2f}" for value in cells) + f"{len(values):>7}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=300, help="measured cycles per run")
    parser.add_argument("--seed", type=int, default=11, help="the simulator's price path")
    arguments = parser.parse_args()
    cycles = max(1, arguments.cycles)
    with simulator(arguments.seed) as server:
        plain, _, _ = measure(server, cycles, hanging=False)
    with simulator(arguments.seed) as server:
        hung, swallowed, waiting = measure(server, cycles, hanging=True)
    print(f"TEST loop against the in-process simulator, {cycles} cycles per run (one candle each)")
    print(f"{'cycle time, milliseconds':<36}{'p50':>10}{'p99':>10}{'max':>10}{'n':>7}")
    print(row("no channel", plain))
    print(row("webhook that never answers", hung))
    print(f"hanging webhook: {swallowed} request(s) accepted, never answered; {waiting} message(s) waiting")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
