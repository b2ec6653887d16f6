"""How many paper-trading users can one `tradebot engine` carry on this machine?

For each N (default 10, 100, 1000): N TEST users spread over 20 markets, all trading minute candles,
run by one `tradebot engine` child process (real 5-second cycles) against the Upbit simulator
running in this process, with its rate limits enforced as Upbit's. By default the simulator runs in
real time: every minute all 20 markets close a candle at the same moment and every user evaluates
it (a burst), and the 11 other cycles of the minute are idle ones. `--speed 12` closes a minute
candle every 5 real seconds, so every cycle of every user evaluates one (a stress test far above
real minute candles).

After every user is running, the engine is sampled every cycle for `--seconds`:
- cycle time: each user's last loop-cycle duration from `health.json` (p50, p99, max over samples);
- heartbeat age: how long ago each user last finished a cycle (p99 < 2 cycles: nobody falls behind);
- CPU % (of one core) and RSS of the engine process (psutil), RSS per user;
- requests per second the simulator answered, per endpoint kind, and throttled answers.

Target (issue 5): 1,000 users with p99 cycle under 1 s and under 1 GB RSS in all.

    .venv/bin/python bench/engine_capacity.py [--users 10 100 1000] [--seconds 60]

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.server import SimulatorServer
from tradebot.services.health_monitor import read_health
from tradebot.services.records import CommandRequest
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import params_path

MARKETS = [
    "KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE", "KRW-ADA", "KRW-TRX", "KRW-AVAX",
    "KRW-LINK", "KRW-DOT", "KRW-BCH", "KRW-ETC", "KRW-ATOM", "KRW-NEAR", "KRW-APT", "KRW-SUI",
    "KRW-SEI", "KRW-STX", "KRW-XLM", "KRW-SAND",
]  # fmt: skip
SPEED = 1.0  # simulated seconds per real second (real time)
CYCLE_SECONDS = 5.0
STARTUP_LIMIT = 600.0


@dataclass
class Result:
    users: int
    running: int
    cycle_p50: float
    cycle_p99: float
    cycle_max: float
    heartbeat_p99: float
    cpu_percent: float
    rss_mb: float
    requests_per_second: dict[str, float]
    throttled: int
    startup_seconds: float


def make_users(home: Path, count: int) -> None:
    now = datetime.now(UTC)
    for index in range(count):
        name = f"user{index:04d}"
        create_user(home, name, None, now)
        path = params_path(home, name)
        params = json.loads(path.read_text())
        params.update(market=MARKETS[index % len(MARKETS)], interval="minute1", warmup_bars=60)
        path.write_text(json.dumps(params))
        with open_user_store(home, name) as store, store.transaction() as transaction:
            transaction.submit_command(CommandRequest(kind="start", requested_by="bench", requested_at=now))


def start_engine(home: Path, url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tradebot", "engine", "--exchange-url", url,
               "--cycle-seconds", str(CYCLE_SECONDS)]  # fmt: skip
    environment = dict(os.environ, TRADEBOT_HOME=str(home), PYTHONUNBUFFERED="1")
    log = (home / "engine.log").open("wb")
    return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)


def running_users(home: Path) -> tuple[int, list[dict[str, object]]]:
    report = read_health(home)
    if report is None:
        return 0, []
    users = report.get("users", [])
    return sum(1 for user in users if user.get("state") == "running"), users


def wait_running(home: Path, count: int, process: subprocess.Popen[bytes]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_LIMIT:
        if process.poll() is not None:
            raise SystemExit(f"engine exited: see {home / 'engine.log'}")
        running, _ = running_users(home)
        if running >= count:
            return time.monotonic() - started
        time.sleep(1.0)
    raise SystemExit(f"only {running_users(home)[0]} of {count} users running after {STARTUP_LIMIT:.0f} s")


def request_kinds(counts: dict[str, int]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for key, count in counts.items():
        path = key.split()[1]
        kinds["candles" if path.startswith("/v1/candles") else path.removeprefix("/v1/")] += count
    return kinds


def measure(count: int, seconds: float, speed: float) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"tradebot-capacity-{count}-"))
    config = build_config(
        port=0, speed=SPEED, start=datetime.now(UTC), history_days=1, markets=MARKETS, seed=3
    )
    server = SimulatorServer(config).start()
    admin = httpx.Client(base_url=server.base_url, timeout=10.0, headers=server.admin_headers)
    engine = None
    try:
        make_users(home, count)
        engine = start_engine(home, server.base_url)
        startup = wait_running(home, count, engine)
        process = psutil.Process(engine.pid)
        process.cpu_percent(None)
        admin.delete("/_admin/requests")
        cycles, heartbeats, rss = [], [], []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(CYCLE_SECONDS)
            _, users = running_users(home)
            cycles += [
                float(u["cycle_duration_seconds"])
                for u in users
                if u.get("cycle_duration_seconds") is not None
            ]
            heartbeats += [
                float(u["heartbeat_age_seconds"]) for u in users if u.get("heartbeat_age_seconds") is not None
            ]
            rss.append(process.memory_info().rss)
        cpu = process.cpu_percent(None)
        counts = admin.get("/_admin/requests").json()["counts"]
        report = read_health(home) or {}
        throttled = sum(
            int(group.get("throttled", 0))
            for group in report.get("engine", {}).get("rate_groups", {}).values()
        )
        running, _ = running_users(home)
        per_second = {kind: total / seconds for kind, total in sorted(request_kinds(counts).items())}
        cycles.sort()
        if os.environ.get("BENCH_DEBUG"):
            print("deciles", [round(cycles[int(q / 10 * (len(cycles) - 1))], 3) for q in range(11)])
            print("groups", report.get("rate_groups"))
        return Result(
            users=count, running=running, cycle_p50=statistics.median(cycles),
            cycle_p99=cycles[int(0.99 * (len(cycles) - 1))], cycle_max=cycles[-1],
            heartbeat_p99=sorted(heartbeats)[int(0.99 * (len(heartbeats) - 1))], cpu_percent=cpu,
            rss_mb=max(rss) / 2**20, requests_per_second=per_second, throttled=throttled,
            startup_seconds=startup,
        )  # fmt: skip
    finally:
        if engine is not None and engine.poll() is None:
            engine.send_signal(signal.SIGTERM)
            try:
                engine.wait(timeout=120)
            except subprocess.TimeoutExpired:
                engine.kill()
        admin.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def report_line(result: Result) -> str:
    """One row of the results table."""
    milliseconds = [
        f"{value * 1000:12.1f}" for value in (result.cycle_p50, result.cycle_p99, result.cycle_max)
    ]
    return (
        f"{result.users:5d} {result.running:7d} {result.startup_seconds:9.1f} {' '.join(milliseconds)} "
        f"{result.heartbeat_p99:15.1f} {result.cpu_percent:5.0f} {result.rss_mb:6.0f} "
        f"{result.rss_mb / result.users:11.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=120.0, help="measuring time per size (default 120)")
    parser.add_argument("--speed", type=float, default=SPEED, help="simulator speed (default 1: real time)")
    arguments = parser.parse_args()
    print(f"{len(MARKETS)} markets, minute candles closing every {60 / arguments.speed:g} s, "
          f"{CYCLE_SECONDS:g}-s cycles, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print("users running startup_s cycle_p50_ms cycle_p99_ms cycle_max_ms heartbeat_p99_s "
          "cpu_% rss_MB rss/user_MB")  # fmt: skip
    for count in arguments.users:
        result = measure(count, arguments.seconds, arguments.speed)
        print(report_line(result), flush=True)
        rates = ", ".join(f"{kind} {rate:.2f}/s" for kind, rate in result.requests_per_second.items())
        print(f"      requests: {rates}; throttled answers: {result.throttled}", flush=True)


if __name__ == "__main__":
    main()
