"""`tradebot demo`: simulator, engine and dashboard from one command; Ctrl-C stops all three."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx

from .crash_harness import wait_until


def _evaluations(home: Path) -> int:
    path = home / "tradebot_demo.db"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as connection:
        try:
            row = connection.execute(
                "SELECT (SELECT count(*) FROM buy_eval) + (SELECT count(*) FROM sell_eval)"
            )
            return int(row.fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def test_demo_starts_everything_prints_login_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    command = [sys.executable, "-m", "tradebot", "demo", "--home", str(home), "--port", "0",
               "--simulator-port", "0", "--speed", "60", "--cycle-seconds", "0.5"]  # fmt: skip
    log = tmp_path / "demo.out"
    with log.open("wb") as output:
        demo = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=dict(os.environ))  # noqa: S603
    try:
        assert wait_until(lambda: "Ctrl-C stops everything" in log.read_text(), 90), log.read_text()
        text = log.read_text()
        assert "Login:     demo / demo-password" in text
        match = re.search(r"Dashboard: (http://127\.0\.0\.1:\d+)", text)
        assert match is not None
        assert httpx.get(f"{match.group(1)}/_stcore/health", timeout=5).text == "ok"
        assert wait_until(lambda: _evaluations(home) >= 2, 60), (home / "engine.log").read_text()
    finally:
        demo.send_signal(signal.SIGINT)
        status = demo.wait(timeout=60)
    assert status == 0, log.read_text()
    assert "stopped: dashboard, engine, simulator" in log.read_text()
    assert "engine stopped" in (home / "engine.log").read_text()
