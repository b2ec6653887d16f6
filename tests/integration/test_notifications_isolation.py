"""A notification channel that never answers never holds up the user's trading loop (issue 14).

The loop trades TEST against the simulator in this process while the user's delivery thread
(`start_user_notifications`, as the engine starts it) is stuck inside a webhook request that the
fake receiver holds open. The loop completes every cycle and records every evaluation; the
message stays pending. A behaviour test, not a timing test: `bench/notify_isolation.py` measures.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from tests.fakes.fake_webhook import FakeWebhook, Hold
from tradebot.core.clock import SystemClock
from tradebot.engine.user_notifications import start_user_notifications
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, queue_test, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store

from .conftest import Simulator
from .test_live_loop import USER, exchange, prepare_user, run_cycles, start_loop

__all__ = ["exchange"]  # the fixture this module uses
CYCLES = 30


def evaluations(home: Path) -> int:
    with open_user_store(home, USER) as store:
        rows = store.query("SELECT (SELECT count(*) FROM buy_eval) + (SELECT count(*) FROM sell_eval) AS n")
    return int(rows[0]["n"])


def test_loop_with_a_hanging_webhook_completes_its_cycles_and_records_evaluations_while_the_row_waits(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    with FakeWebhook() as webhook:
        webhook.script(*[Hold()] * 20)  # every send hangs until the end of the test
        changes = NotifyChanges(webhook_url=webhook.url, events={"engine": "off"})
        with open_user_store(tmp_path, USER) as store:
            save_changes(
                store, SecretBox.for_home(tmp_path), changes, now=datetime.now(UTC), updated_by="test"
            )
            message_id = queue_test(store, USER, SimulatedTimeClock(exchange.server).now())
        assert message_id is not None
        loop = start_loop(exchange, tmp_path, "TEST", resources)
        notifier = start_user_notifications(tmp_path, USER, SystemClock())
        try:
            assert webhook.holding.wait(10), "the delivery thread never reached the webhook"
            before = evaluations(tmp_path)

            run_cycles(exchange, loop, CYCLES)

            recorded = evaluations(tmp_path) - before
            with open_user_store(tmp_path, USER) as store:
                waiting = [row.id for row in due(store, datetime(2200, 1, 1, tzinfo=UTC), limit=1000)]
            still_holding, received = webhook.holding.is_set(), list(webhook.bodies)
        finally:
            webhook.released.set()
            notifier.stop()
    assert still_holding  # the channel hung for the whole run
    assert recorded >= CYCLES  # every cycle evaluated its closed candle
    assert message_id in waiting  # the message was neither lost nor marked
    assert received == []  # nothing got through while the channel hung
