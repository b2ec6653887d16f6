"""The two sides of a soak run: the simulator's admin client and the `tradebot engine` child process.

Plus read-only access to a user's database while the engine may be writing it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil

from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.services.paths import database_path

from .crash_harness import HarnessError

STOP_SECONDS = 90.0


class Admin:
    """The simulator's admin endpoints (never faulted: they are outside `/v1`)."""

    def __init__(self, server: SimulatorServer) -> None:
        self.server = server
        self.client = httpx.Client(base_url=server.base_url, timeout=30.0, headers=server.admin_headers)

    def call(self, method: str, path: str, body: object | None = None) -> Any:
        response = self.client.request(method, path, json=body)
        if not response.is_success:
            raise HarnessError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def now(self) -> datetime:
        """The simulated time."""
        return self.server.exchange.clock.now()

    def orders(self, access_key: str) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = self.call("GET", f"/_admin/orders?access_key={access_key}")
        return documents

    def balances(self, access_key: str) -> dict[str, Decimal]:
        """Balance plus locked, per currency."""
        for account in self.call("GET", "/_admin/accounts"):
            if account["access_key"] == access_key:
                return {
                    item["currency"]: Decimal(item["balance"]) + Decimal(item["locked"])
                    for item in account["balances"]
                }
        raise HarnessError(f"no account {access_key}")

    def candle_starts(self, market: str, first: datetime, last: datetime) -> set[datetime]:
        """Starts of the simulator's own minute candles between `first` and `last` (its gaps show)."""
        exchange = self.server.exchange
        low, high = (int(moment.timestamp()) * 10**9 for moment in (first, last))
        with exchange.lock:
            starts = exchange.markets[market].path.start_ns
            chosen = starts[(starts >= low) & (starts <= high)]
        return {datetime.fromtimestamp(int(value) / 10**9, UTC) for value in chosen}

    def close(self) -> None:
        self.client.close()


class EngineProcess:
    """`python -m tradebot engine` with its output in a log file."""

    def __init__(self, home: Path, exchange_url: str, cycle_seconds: float, log: Path) -> None:
        self.log = log
        command = [
            sys.executable, "-m", "tradebot", "engine", "--exchange-url", exchange_url,
            "--cycle-seconds", str(cycle_seconds),
        ]  # fmt: skip
        environment = dict(os.environ, TRADEBOT_HOME=str(home), PYTHONUNBUFFERED="1")
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                command, env=environment, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def rss(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM; the exit code (SIGKILL after STOP_SECONDS, reported as -9)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


def read_rows(home: Path, user: str, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a user's database, read-only (the engine may be writing)."""
    uri = f"file:{database_path(home, user)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as connection:
        return connection.execute(sql, parameters).fetchall()
