"""The daily summary of a real TEST run agrees with the user's database and is sent once (issue 14).

The loop trades TEST against the simulator; then the engine's deliverer, on a clock just past the
user's summary time, queues the summary once and delivers it with the fills to a fake Telegram.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tests.fakes.clocks import StepClock
from tests.fakes.fake_telegram import TOKEN, FakeTelegram
from tradebot.engine.user_notifications import UserDeliverer
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.notifications.messages import won
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store
from tradebot.services.storage.codecs import KST

from .conftest import Simulator
from .test_live_loop import USER, exchange, prepare_user, run_cycles, start_loop

__all__ = ["exchange"]  # the fixture this module uses


def test_daily_summary_of_test_run_matches_database_and_is_sent_once(
    exchange: Simulator, tmp_path: Path, resources: ExitStack
) -> None:
    prepare_user(tmp_path, "TEST")
    loop = start_loop(exchange, tmp_path, "TEST", resources)
    run_cycles(exchange, loop, 120)
    after_run = SimulatedTimeClock(exchange.server).now() + timedelta(minutes=1)
    summary_moment = after_run.replace(second=0, microsecond=0)
    with FakeTelegram() as telegram:
        changes = NotifyChanges(
            telegram_token=TOKEN, telegram_chat_id="4242", telegram_api_url=telegram.base_url,
            daily_summary=summary_moment.astimezone(KST).strftime("%H:%M"),
        )  # fmt: skip
        with open_user_store(tmp_path, USER) as store:
            save_changes(
                store, SecretBox.for_home(tmp_path), changes, now=datetime.now(UTC), updated_by="test"
            )
        clock = StepClock(summary_moment + timedelta(seconds=1))
        deliverer = UserDeliverer(tmp_path, USER, clock)
        try:
            for _ in range(200):  # 400 s of rounds: the same KST day, so one summary
                deliverer.deliver_due()
                clock.advance(2.0)
        finally:
            deliverer.close()
        summaries = [text for text in telegram.texts() if " daily summary " in text]
    with open_user_store(tmp_path, USER) as store:
        audits = [audit for audit in store.trade_audits() if audit.mode == "TEST"]
        account = store.account("TEST")
        held = store.positions("TEST")
    assert len(audits) >= 2
    assert account is not None
    [summary] = summaries
    buys = sum(1 for audit in audits if audit.side == "bid")
    profits = [audit.realised_profit for audit in audits if audit.realised_profit is not None]
    assert f"[TEST] trades: {buys} buy(s), {len(audits) - buys} sell(s); " in summary
    assert f"realised profit {won(sum(profits, Decimal(0)), signed=True)}" in summary
    assert f"(cash {won(account.krw_balance)})" in summary
    if not held:
        assert "[TEST] open positions: none" in summary
        assert f"[TEST] equity: {won(account.krw_balance)}" in summary
    for position in held:
        assert f"[TEST] open position: {position.market} " in summary
