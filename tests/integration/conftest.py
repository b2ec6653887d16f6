"""Fixtures that run the Upbit simulator on 127.0.0.1 in a background thread.

Each test gets its own server on a free port with a stopped clock (speed 0), so simulated time
only moves through `POST /_admin/clock/step`. The clock starts at 2026-03-22 21:47:08 KST, the
minute of the recorded market orders in upbit-api.md §3.5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tradebot.core.clock import Clock, SystemClock
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.exchange.upbit import (
    Credentials,
    RateLimitRegistry,
    UpbitExchangeClient,
    UpbitQuotationClient,
    UpbitSession,
)
from tradebot.exchange.upbit.auth import SigningAlgorithm

START = datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC)
ACCESS_KEY = "contract-access-key"
SECRET_KEY = "contract0secret0key0for0tests0only000000"  # noqa: S105 - a fake key for a fake server
OTHER_ACCESS_KEY = "contract-other-access-key"
OTHER_SECRET_KEY = "contract0other0secret0for0tests0only0000"  # noqa: S105
STARTING_KRW = Decimal(1_000_000)
STARTING_BTC = Decimal("0.5")


class ManualTimer:
    """A monotonic timer that only moves when told: holds a rate-limit window still."""

    def __init__(self, start: float = 1000.25) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class NoWaitClock(SystemClock):
    """A client clock whose waits (rate-limit penalties, backoff) return at once.

    Its monotonic time includes what it "slept", so the client's limiter sees the wait as done.
    """

    def __init__(self) -> None:
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return super().monotonic() + sum(self.slept)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@dataclass
class Simulator:
    """A running simulator plus helpers to drive it and to build clients for it."""

    server: SimulatorServer
    admin: httpx.Client
    sessions: list[UpbitSession] = field(default_factory=list)
    http_clients: list[httpx.Client] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def step(self, seconds: float) -> str:
        now: str = self._admin("POST", "/_admin/clock/step", {"seconds": seconds})["now"]
        return now

    def set_price(self, market: str, price: str, bid: str | None = None, ask: str | None = None) -> Any:
        body = {"market": market, "price": price, "bid": bid, "ask": ask}
        return self._admin("POST", "/_admin/price", {key: value for key, value in body.items() if value})

    def schedule_fault(self, kind: str, method: str, path: str, count: int = 1) -> None:
        self._admin(
            "POST", "/_admin/faults/next", {"kind": kind, "method": method, "path": path, "count": count}
        )

    def set_faults(self, **settings: object) -> None:
        self._admin("PUT", "/_admin/faults", settings)

    def set_rate_limits(self, **settings: object) -> None:
        self._admin("PUT", "/_admin/rate-limits", settings)

    def set_market_event(self, market: str, *, warning: bool = False, caution: tuple[str, ...] = ()) -> Any:
        body = {"market": market, "warning": warning, "caution": list(caution)}
        return self._admin("PUT", "/_admin/markets/event", body)

    def suspend(self, market: str, suspended: bool = True) -> Any:
        return self._admin("PUT", "/_admin/markets/suspension", {"market": market, "suspended": suspended})

    def delist(self, market: str) -> Any:
        return self._admin("POST", "/_admin/markets/delist", {"market": market})

    def limit_key(
        self,
        access_key: str = ACCESS_KEY,
        *,
        expire_at: str | None = None,
        allowed_ips: list[str] | None = None,
    ) -> Any:
        body = {"access_key": access_key, "expire_at": expire_at, "allowed_ips": allowed_ips}
        return self._admin("PUT", "/_admin/keys", body)

    def orders(self, access_key: str = ACCESS_KEY) -> list[dict[str, Any]]:
        documents: list[dict[str, Any]] = self._admin("GET", f"/_admin/orders?access_key={access_key}")
        return documents

    def balances(self, access_key: str = ACCESS_KEY) -> dict[str, dict[str, Decimal]]:
        for account in self._admin("GET", "/_admin/accounts"):
            if account["access_key"] == access_key:
                return {
                    item["currency"]: {key: Decimal(item[key]) for key in ("balance", "locked")}
                    for item in account["balances"]
                }
        raise AssertionError(f"no account {access_key}")

    def _admin(self, method: str, path: str, body: object | None = None) -> Any:
        response = self.admin.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    def session(self, *, attempts: int = 3, timeout: float = 5.0, clock: Clock | None = None) -> UpbitSession:
        """A client session with its own limiters; on real time it never outruns the server."""
        session = UpbitSession(
            base_url=self.base_url,
            timeout=timeout,
            rate_limits=RateLimitRegistry(clock or SystemClock()),
            attempts=attempts,
            backoff_seconds=0.01,
        )
        self.sessions.append(session)
        return session

    def exchange_client(
        self,
        *,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        algorithm: SigningAlgorithm = "HS512",
        attempts: int = 3,
        timeout: float = 5.0,
    ) -> UpbitExchangeClient:
        session = self.session(attempts=attempts, timeout=timeout)
        return UpbitExchangeClient(Credentials(access_key, secret_key), session, algorithm=algorithm)

    def quotation_client(self, *, attempts: int = 3, clock: Clock | None = None) -> UpbitQuotationClient:
        return UpbitQuotationClient(self.session(attempts=attempts, clock=clock))

    def http(self) -> httpx.Client:
        """A plain HTTP client for requests the Upbit client would never send."""
        client = httpx.Client(base_url=self.base_url, timeout=5.0)
        self.http_clients.append(client)
        return client


SimulatorFactory = Callable[..., Simulator]


@pytest.fixture(scope="session")
def _stopping_servers() -> Iterator[list[SimulatorServer]]:
    # uvicorn takes ~0.2 s to shut down; servers finish that in the background while the next
    # tests run, and are all waited for here.
    stopping: list[SimulatorServer] = []
    yield stopping
    for server in stopping:
        server.join()


@pytest.fixture
def simulator_factory(_stopping_servers: list[SimulatorServer]) -> Iterator[SimulatorFactory]:
    """Start simulators with config overrides; every one is stopped after the test."""
    running: list[Simulator] = []

    def start(*, rate_timer: Callable[[], float] | None = None, **overrides: object) -> Simulator:
        values: dict[str, object] = {
            "port": 0,
            "speed": 0,
            "start": START,
            "history_days": 3,
            "markets": ["KRW-BTC", "KRW-ETH"],
            "accounts": [
                {
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "balances": {"KRW": str(STARTING_KRW), "BTC": str(STARTING_BTC)},
                },
                {
                    "access_key": OTHER_ACCESS_KEY,
                    "secret_key": OTHER_SECRET_KEY,
                    "balances": {"KRW": "50000"},
                },
            ],
        }
        values.update(overrides)
        timers = {"rate_timer": rate_timer} if rate_timer is not None else {}
        server = SimulatorServer(build_config(**values), **timers).start()
        admin = httpx.Client(base_url=server.base_url, timeout=5.0, headers=server.admin_headers)
        simulator = Simulator(server, admin)
        running.append(simulator)
        return simulator

    yield start
    for simulator in running:
        for session in simulator.sessions:
            session.close()
        for client in [simulator.admin, *simulator.http_clients]:
            client.close()
        simulator.server.stop(wait=False)
        _stopping_servers.append(simulator.server)


@pytest.fixture
def simulator(simulator_factory: SimulatorFactory) -> Simulator:
    """A simulator with the default test accounts and a stopped clock."""
    return simulator_factory()


@pytest.fixture
def resources() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack
