"""The simulator's fault injector: 429 bursts, latency spikes and the counts by kind."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import groupby

import pytest
from starlette.testclient import TestClient

from tradebot.cli import main
from tradebot.exchange.simulator import SimulatorConfig, build_config
from tradebot.exchange.simulator.app import build_app
from tradebot.exchange.simulator.build import build_exchange
from tradebot.exchange.simulator.faults import FaultInjector, FaultSettings, ScheduledFault
from tradebot.exchange.simulator.ratelimit import RateLimitSettings, Throttle
from tradebot.exchange.simulator.routes_admin import ADMIN_TOKEN_HEADER

START = datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC)
ADMIN_TOKEN = "unit-test-admin-token-0123"  # noqa: S105 - a fake token of an in-memory simulator


def _draws(injector: FaultInjector, count: int, method: str = "GET", path: str = "/v1/ticker") -> list[str]:
    return [injector.choose(method, path) or "-" for _ in range(count)]


def test_a_random_429_starts_a_burst_of_the_configured_length() -> None:
    injector = FaultInjector(FaultSettings(throttle_burst_rate=0.02, throttle_burst_length=4, seed=3))
    draws = _draws(injector, 20_000)
    runs = [len(list(run)) for kind, run in groupby(draws) if kind == "throttle"]
    assert runs, "no burst in 20,000 requests at 2 %"
    assert all(length % 4 == 0 for length in runs)  # whole bursts (two can touch)
    assert injector.counts()["injected"] == {"throttle": draws.count("throttle")}


def test_spikes_and_scheduled_faults_are_counted_by_kind() -> None:
    injector = FaultInjector(FaultSettings(spike_rate=1.0))
    injector.schedule(ScheduledFault(kind="throttle", path="/v1/accounts", count=2))
    assert _draws(injector, 3, path="/v1/accounts") == ["throttle", "throttle", "spike"]
    injector.note_rate_limited(429)
    injector.note_rate_limited(418)
    injector.note_rate_limited(429)
    expected = {"injected": {"throttle": 2, "spike": 1}, "rate_limited": {"429": 2, "418": 1}}
    assert injector.counts() == expected
    injector.reset()  # faults off: the counts stay
    assert _draws(injector, 5) == ["-"] * 5
    assert injector.counts() == expected
    injector.reset_counts()
    assert injector.counts() == {"injected": {}, "rate_limited": {}}


def test_drop_is_drawn_for_order_posts_only() -> None:
    injector = FaultInjector(FaultSettings(drop_order_rate=1.0))
    assert _draws(injector, 2) == ["-", "-"]
    assert _draws(injector, 2, "POST", "/v1/orders") == ["drop", "drop"]


def _client(faults: FaultSettings, rate_limits: RateLimitSettings) -> TestClient:
    config = build_config(port=0, speed=0, start=START, history_days=1, markets=["KRW-BTC"])
    exchange = build_exchange(config)
    throttle = Throttle(rate_limits, timer=lambda: 100.5)  # one window for the whole test
    app = build_app(exchange, throttle, FaultInjector(faults), admin_token=ADMIN_TOKEN)
    return TestClient(app, base_url="http://127.0.0.1", headers={ADMIN_TOKEN_HEADER: ADMIN_TOKEN})


def test_the_gateway_answers_injected_429s_delays_spikes_and_reports_the_counts() -> None:
    client = _client(FaultSettings(), RateLimitSettings(enforce=True))
    with client:
        client.put("/_admin/faults", json={"spike_rate": 1.0, "spike_seconds": 0.2})
        began = time.monotonic()
        assert client.get("/v1/market/all").status_code == 200
        assert time.monotonic() - began >= 0.2
        client.put("/_admin/faults", json={"throttle_burst_rate": 1.0, "throttle_burst_length": 2})
        throttled = client.get("/v1/ticker", params={"markets": "KRW-BTC"})
        assert throttled.status_code == 429
        assert throttled.text == "Too many API requests."
        assert throttled.headers["Remaining-Req"].startswith("group=ticker; min=600; sec=")
        client.delete("/_admin/faults")
        statuses = [client.get("/v1/ticker", params={"markets": "KRW-BTC"}).status_code for _ in range(12)]
        assert statuses == [200] * 9 + [429] * 3  # the real limit: 10 per second, one already spent
        counts = client.get("/_admin/faults/counts").json()
        assert counts["injected"] == {"spike": 1, "throttle": 1}
        assert counts["rate_limited"] == {"429": statuses.count(429)}
        assert client.delete("/_admin/faults/counts").json() == {"injected": {}, "rate_limited": {}}


def test_each_kind_gets_its_share_of_the_requests() -> None:
    rates = {"error": 0.10, "timeout": 0.05, "malformed": 0.02, "spike": 0.02}
    injector = FaultInjector(FaultSettings(**{f"{kind}_rate": rate for kind, rate in rates.items()}, seed=5))
    draws = _draws(injector, 40_000)
    for kind, rate in rates.items():
        assert abs(draws.count(kind) / len(draws) - rate) < 0.005, kind


def test_the_command_line_sets_bursts_and_spikes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[SimulatorConfig] = []
    monkeypatch.setattr("tradebot.exchange.simulator.server.run_simulator", started.append)
    options = ["--throttle-burst-rate", "0.01", "--throttle-burst-length", "3"]
    assert main(["simulator", *options, "--spike-rate", "0.02", "--spike-seconds", "1.5"]) == 0
    faults = started[0].faults
    assert (faults.throttle_burst_rate, faults.throttle_burst_length) == (0.01, 3)
    assert (faults.spike_rate, faults.spike_seconds) == (0.02, 1.5)
    with pytest.raises(SystemExit):
        main(["simulator", "--throttle-burst-length", "0"])
    assert "a burst is 1 to 10000 answers, got 0" in capsys.readouterr().err
