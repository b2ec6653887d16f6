"""Notifications exactly once across a SIGKILL of the real engine, and a 30-second outage (issue 14).

`tradebot engine` runs in a child process against the simulator, trading one TEST user whose
Telegram channel is the fake Bot API server. The fake is down from the start, so every fill's
outbox row exists and is not sent when the engine is killed with SIGKILL; the restarted engine
delivers each message, and every message arrives exactly once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tests.fakes.fake_telegram import TOKEN, FakeTelegram
from tradebot.cli import main
from tradebot.engine.user_notifications import UserDeliverer
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.health_monitor import read_health
from tradebot.services.notifications.messages import notify_alert
from tradebot.services.notifications.outbox import counts
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.paths import database_path
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path

from .conftest import Simulator
from .crash_harness import MARKET, Exchange, running_exchange, wait_until
from .test_engine_service import EngineProcess
from .test_live_loop import USER as LOOP_USER
from .test_live_loop import exchange, prepare_user, run_cycles, start_loop

__all__ = ["exchange"]  # the fixture the outage test uses
USER = "alice"
CHAT = "4242"


@pytest.fixture
def fast_exchange() -> Iterator[Exchange]:
    with running_exchange(seed=23) as running:
        yield running


def prepare_trader(home: Path, telegram: FakeTelegram) -> None:
    """A TEST user that buys on any bullish candle and exits within a few candles; Telegram is the fake."""
    create_user(home, USER, None, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(
        market=MARKET, interval="minute1", warmup_bars=40, take_profit=0.003, stop_loss=0.003,
        trailing_stop=0.002, order_ratio=0.5, price_exit_check="tick",
    )  # fmt: skip
    path.write_text(json.dumps(params))
    path = conditions_path(home, USER)
    conditions = json.loads(path.read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    path.write_text(json.dumps(conditions))
    configure(home, USER, telegram)


def configure(home: Path, user: str, telegram: FakeTelegram) -> None:
    changes = NotifyChanges(
        telegram_token=TOKEN,
        telegram_chat_id=CHAT,
        telegram_api_url=telegram.base_url,
        events={"engine": "off"},
    )
    with open_user_store(home, user) as store:
        save_changes(store, SecretBox.for_home(home), changes, now=datetime.now(UTC), updated_by="test")


def outbox(home: Path) -> list[tuple[str, str, str]]:
    """(kind, status, text) of every outbox row, oldest first (read-only, beside the engine)."""
    uri = f"file:{database_path(home, USER)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as connection:
        rows = connection.execute("SELECT kind, status, text FROM notify_outbox ORDER BY id").fetchall()
    return [(str(kind), str(status), str(text)) for kind, status, text in rows]


def engine_channels(home: Path) -> list[tuple[str, str]]:
    """(channel, state) of the user's notifications block in the engine's `health.json`."""
    document = read_health(home) or {}
    for user in document.get("users") or []:
        if user.get("username") == USER and isinstance(user.get("notifications"), dict):
            return [(item["channel"], item["state"]) for item in user["notifications"]["channels"]]
    return []


def pending_fills(home: Path) -> int:
    return sum(1 for kind, status, _ in outbox(home) if kind == "fill" and status == "pending")


def test_engine_sigkilled_with_unsent_fill_messages_delivers_each_exactly_once_after_restart(
    tmp_path: Path, fast_exchange: Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path
    monkeypatch.setenv("TRADEBOT_HOME", str(home))
    with FakeTelegram() as telegram:
        telegram.outage = True  # nothing can be delivered before the kill: every row stays pending
        prepare_trader(home, telegram)
        engine = EngineProcess(home, fast_exchange.base_url, tmp_path / "engine-1.log")
        try:
            assert main(["ctl", "start", "--user", USER]) == 0, engine.text()
            assert wait_until(lambda: pending_fills(home) >= 2, 60), engine.text()
            assert wait_until(lambda: bool(telegram.refused), 20), (
                "the engine tried to send during the outage"
            )
            engine.process.send_signal(signal.SIGKILL)
            engine.process.wait(timeout=10)
            at_kill = outbox(home)
            assert telegram.texts() == []

            telegram.outage = False
            engine = EngineProcess(home, fast_exchange.base_url, tmp_path / "engine-2.log")
            assert wait_until(lambda: all(row[2] in telegram.texts() for row in at_kill), 90), engine.text()
            assert wait_until(lambda: engine_channels(home) == [("telegram", "ok")], 30), engine.text()
            assert main(["ctl", "stop", "--user", USER]) == 0
        finally:
            if engine.process.poll() is None:
                engine.process.send_signal(signal.SIGTERM)
                engine.process.wait(timeout=30)
        rows, delivered = outbox(home), Counter(telegram.texts())
    sent = Counter(text for _, status, text in rows if status == "sent")
    assert [row for row in at_kill if row[1] != "pending"] == []  # killed between event and send
    assert sum(1 for kind, _, _ in at_kill if kind == "fill") >= 2
    assert delivered == sent  # every row marked sent arrived exactly once, nothing arrived unmarked
    assert Counter(text for _, _, text in at_kill) <= delivered  # every message of before the kill


def test_loop_fills_and_alerts_over_a_30_second_outage_all_delivered_once_on_the_injected_clock(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    with FakeTelegram() as telegram:
        configure(tmp_path, LOOP_USER, telegram)
        loop = start_loop(exchange, tmp_path, "TEST", resources)
        run_cycles(exchange, loop, 120)  # the fills' rows wait in the outbox
        clock = StepClock(SimulatedTimeClock(exchange.server).now())  # 30 s of outage, no real wait
        deliverer = UserDeliverer(tmp_path, LOOP_USER, clock)
        try:
            telegram.outage = True
            for second in range(30):
                if second % 10 == 5:  # events keep happening during the outage
                    with open_user_store(tmp_path, LOOP_USER) as store, store.transaction() as transaction:
                        notify_alert(transaction, LOOP_USER, f"ALERT: test alert at {second} s", clock.now())
                deliverer.deliver_due()
                clock.advance(1)
            down = deliverer.delivery_state()
            telegram.outage = False
            for _ in range(600):  # 10 minutes of the injected clock: every backoff has passed
                deliverer.deliver_due()
                clock.advance(1)
        finally:
            deliverer.close()
        with open_user_store(tmp_path, LOOP_USER) as store:
            audits = store.trade_audits()
            left = counts(store)
        texts = telegram.texts()
    assert telegram.refused  # the outage was real
    assert down is not None
    assert [(channel.channel, channel.state) for channel in down.channels] == [("telegram", "failing")]
    assert len(audits) >= 2
    fills = [text for text in texts if "filled" in text]
    assert len(fills) == len(audits)  # each fill once: the outage lost nothing
    assert [text for text in texts if "test alert" in text] == [
        f"{LOOP_USER}: ALERT: test alert at {second} s" for second in (5, 15, 25)
    ]
    assert (left["pending"], left["dead"]) == (0, 0)
