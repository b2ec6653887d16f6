"""`tradebot engine` as a real child process running two users' loops against the simulator.

Both users are started with `tradebot ctl`, both evaluate candles; one is stopped and the other goes
on; the engine is SIGKILLed and restarted and the running user resumes by itself; a second engine
on the same data directory is refused; SIGTERM stops the engine cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.services.paths import database_path
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .crash_harness import ACCESS_KEY, SECRET_KEY, SIMULATOR_SPEED, Exchange, running_exchange, wait_until

USERS = ("alice", "bob")
CYCLE_SECONDS = "0.1"


class EngineProcess:
    """`python -m tradebot engine` with its output in a log file."""

    def __init__(self, home: Path, exchange_url: str, log: Path) -> None:
        self.log = log
        command = [
            sys.executable, "-m", "tradebot", "engine", "--exchange-url", exchange_url,
            "--cycle-seconds", CYCLE_SECONDS,
        ]  # fmt: skip
        environment = dict(os.environ, TRADEBOT_HOME=str(home), PYTHONUNBUFFERED="1")
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                command, env=environment, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _read(home: Path, user: str, sql: str) -> list[tuple[object, ...]]:
    uri = f"file:{database_path(home, user)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
        return connection.execute(sql).fetchall()


def evaluations(home: Path, user: str) -> int:
    rows = _read(home, user, "SELECT (SELECT count(*) FROM buy_eval) + (SELECT count(*) FROM sell_eval)")
    return int(str(rows[0][0]))


def state(home: Path, user: str) -> str | None:
    rows = _read(home, user, "SELECT state FROM engine_status")
    return str(rows[0][0]) if rows else None


def ctl(*arguments: str) -> int:
    return main(["ctl", *arguments])


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    with running_exchange(seed=17) as running:
        yield running


def test_engine_runs_two_users_resumes_after_sigkill_and_refuses_a_second_engine(
    tmp_path: Path, exchange: Exchange, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    for user in USERS:
        create_user(home, user, None, datetime.now(UTC))
        path = params_path(home, user)
        params = json.loads(path.read_text())
        params.update(market="KRW-BTC", interval="minute1", warmup_bars=40)
        path.write_text(json.dumps(params))
    engine = EngineProcess(home, exchange.base_url, tmp_path / "engine-1.log")
    try:
        assert ctl("start", "--user", "alice") == 0, engine.text()
        assert ctl("start", "--user", "bob") == 0, engine.text()
        assert "alice: start: done: running in TEST" in capsys.readouterr().out
        assert wait_until(lambda: all(evaluations(home, user) >= 2 for user in USERS), 15), engine.text()

        assert ctl("stop", "--user", "bob") == 0
        bob_after_stop = evaluations(home, "bob")
        alice_before = evaluations(home, "alice")
        assert wait_until(lambda: evaluations(home, "alice") >= alice_before + 3, 10), engine.text()
        assert evaluations(home, "bob") == bob_after_stop
        assert state(home, "bob") == "stopped"
        capsys.readouterr()
        health = ["health", "--cycle-seconds", CYCLE_SECONDS, "--max-age-cycles", "100", "--json"]
        assert main(health) == 0, capsys.readouterr().out
        report = json.loads(capsys.readouterr().out)
        assert report["engine"]["rate_groups"]["quotation:candles"]["requests"] > 0
        assert {user["username"]: user["state"] for user in report["users"]} == {
            "alice": "running",
            "bob": "stopped",
        }

        second = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "tradebot", "engine", "--exchange-url", exchange.base_url],
            env=dict(os.environ, TRADEBOT_HOME=str(home)), capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
        assert second.returncode == 2
        expected = f"tradebot: error: another engine is running for {home} (pid {engine.process.pid})"
        assert second.stderr.strip() == expected

        engine.process.send_signal(signal.SIGKILL)
        engine.process.wait(timeout=10)
        alice_at_kill = evaluations(home, "alice")
        engine = EngineProcess(home, exchange.base_url, tmp_path / "engine-2.log")
        assert wait_until(lambda: evaluations(home, "alice") >= alice_at_kill + 3, 15), engine.text()
        assert "alice: resuming in TEST" in engine.text()
        assert evaluations(home, "bob") == bob_after_stop
    finally:
        if engine.process.poll() is None:
            engine.process.send_signal(signal.SIGTERM)
            assert engine.process.wait(timeout=20) == 0, engine.text()
    assert state(home, "alice") == "stopped"
    assert "engine stopped" in engine.text()


# --- many users: isolation, shared feed, trading control, positions across a SIGKILL ---------------

SHARED_USERS = ("carol", "dave", "erin", "frank")


def _prepare(home: Path, user: str, **changes: object) -> None:
    create_user(home, user, None, datetime.now(UTC))
    path = params_path(home, user)
    params = json.loads(path.read_text())
    params.update(market="KRW-BTC", interval="minute1", warmup_bars=40)
    params.update(changes)
    path.write_text(json.dumps(params))
    path = conditions_path(home, user)
    conditions = json.loads(path.read_text())
    conditions["sell"] = dict.fromkeys(conditions["sell"], False)  # a position stays until the test ends
    path.write_text(json.dumps(conditions))


def position(home: Path, user: str) -> tuple[object, ...] | None:
    rows = _read(home, user, "SELECT volume, entry_price FROM coin_position WHERE mode = 'TEST'")
    return rows[0] if rows else None


def last_error(home: Path, user: str) -> str:
    rows = _read(home, user, "SELECT last_error FROM engine_status")
    return str(rows[0][0]) if rows else ""


def candle_requests(exchange: Exchange) -> int:
    counts = exchange._call("GET", "/_admin/requests")["counts"]
    return sum(count for key, count in counts.items() if key.startswith("GET /v1/candles/minutes/1 "))


def test_engine_isolates_broken_users_shares_the_feed_and_keeps_positions_across_sigkill(
    tmp_path: Path, exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    for user in SHARED_USERS:
        _prepare(home, user)
    _prepare(home, "gina", market="KRW-NOPE")  # a market the exchange does not know
    _prepare(home, "hank", fast_period=30, slow_period=10)  # invalid: fast must be under slow
    save_keys(home, "dave", UpbitKeys(ACCESS_KEY, SECRET_KEY), datetime.now(UTC))
    engine = EngineProcess(home, exchange.base_url, tmp_path / "engine-1.log")
    try:
        for user in (*SHARED_USERS, "gina", "hank"):
            assert ctl("start", "--user", user, "--no-wait") == 0
        assert wait_until(lambda: all(evaluations(home, user) >= 3 for user in SHARED_USERS), 20), (
            engine.text()
        )
        assert wait_until(lambda: "not found" in last_error(home, "gina").lower(), 10), engine.text()
        assert "slow_period" in last_error(home, "hank"), engine.text()

        exchange._call("DELETE", "/_admin/requests")  # one shared fetch per candle close, not per user
        started = time.monotonic()
        before = {user: evaluations(home, user) for user in SHARED_USERS}
        time.sleep(2.0)
        elapsed = time.monotonic() - started
        closes = elapsed * SIMULATOR_SPEED / 60
        assert all(evaluations(home, user) > before[user] for user in SHARED_USERS)
        assert candle_requests(exchange) <= closes + 3, (candle_requests(exchange), closes)

        assert ctl("force-buy", "--user", "carol", "--reason", "integration test") == 0, engine.text()
        assert ctl("set-mode", "--user", "dave", "--mode", "live", "--confirm-live") == 0, engine.text()
        assert wait_until(lambda: _read(home, "dave", "SELECT mode, state FROM engine_status")[0]
                          == ("LIVE", "running"), 10), engine.text()  # fmt: skip
        held = position(home, "carol")
        assert held is not None
        engine.process.send_signal(signal.SIGKILL)
        engine.process.wait(timeout=10)

        at_kill = {user: evaluations(home, user) for user in SHARED_USERS}
        engine = EngineProcess(home, exchange.base_url, tmp_path / "engine-2.log")
        assert wait_until(lambda: all(evaluations(home, u) > at_kill[u] + 1 for u in SHARED_USERS), 20), (
            engine.text()
        )
        assert position(home, "carol") == held
        assert _read(home, "dave", "SELECT mode FROM engine_status")[0] == ("LIVE",)
        audits = _read(home, "carol", "SELECT cause, requested_by, note FROM trade_audit")
        assert [row[0] for row in audits] == ["force"]
    finally:
        if engine.process.poll() is None:
            engine.process.send_signal(signal.SIGTERM)
            assert engine.process.wait(timeout=20) == 0, engine.text()
