"""Telegram chat commands (issue 14): a fake Bot API server, the engine's poller, the user's database.

Messages are pushed into the fake server's `getUpdates`; one `poll_once()` reads and answers them.
Commands act through trading control (the rows land in the user's commands table with
`requested_by = telegram`); a chat that is not the user's gets no answer and changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tests.fakes.fake_telegram import TOKEN, FakeTelegram
from tradebot.core.clock import SystemClock
from tradebot.core.params import StrategyParams
from tradebot.engine.telegram_poller import TelegramPoller, TelegramPollerThread
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.records import AccountBalance, CommandRequest, EngineStatus, Position, TradeAudit
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store, open_user_store
from tradebot.services.user_admin import create_user

USER, CHAT, STRANGER = "alice", 4242, 9999
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 12:00 KST


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, telegram: FakeTelegram) -> Path:
    create_user(tmp_path, USER, None, NOW)
    changes = NotifyChanges(
        telegram_token=TOKEN, telegram_chat_id=str(CHAT), telegram_api_url=telegram.base_url
    )
    with open_user_store(tmp_path, USER) as store:
        save_changes(store, SecretBox.for_home(tmp_path), changes, now=NOW, updated_by="test")
        with store.transaction() as transaction:
            transaction.set_account(AccountBalance(mode="TEST", krw_balance=Decimal(900_000), updated_at=NOW))
            transaction.record_settings(
                StrategyParams(interval="minute1", stop_loss=0.02, take_profit=0.03),
                saved_at=NOW,
                saved_by="test",
            )
    return tmp_path


@pytest.fixture
def poller(home: Path) -> Iterator[TelegramPoller]:
    polling = TelegramPoller(home, USER, StepClock(NOW))
    polling.poll_once()  # the first round only collects what waited from before
    yield polling
    polling.close()


def ask(poller: TelegramPoller, telegram: FakeTelegram, text: str, chat: int = CHAT) -> list[str]:
    """Push one chat message, run one poll round; the replies sent since."""
    before = len(telegram.messages)
    telegram.push_update(chat, text)
    poller.poll_once()
    return telegram.texts()[before:]


def commands(home: Path) -> list[tuple[str, str]]:
    with open_user_store(home, USER) as store:
        return [(item.kind, item.requested_by) for item in store.recent_commands()]


def with_store(home: Path) -> Store:
    return open_user_store(home, USER, create=False)


def hold_position(home: Path) -> None:
    with with_store(home) as store, store.transaction() as transaction:
        transaction.set_position(
            Position(
                mode="TEST", market="KRW-BTC", volume=Decimal("0.002"), entry_price=Decimal(50_000_000),
                peak_price=Decimal(50_000_000), entry_candle_start=NOW, bars_held=1, updated_at=NOW,
            )
        )  # fmt: skip


def engine_trading(home: Path) -> None:
    with with_store(home) as store, store.transaction() as transaction:
        transaction.set_engine_status(EngineStatus(state="running", mode="TEST", heartbeat_at=NOW))


def test_pause_from_the_user_chat_is_queued_through_trading_control_as_telegram(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    replies = ask(poller, telegram, "/pause")
    assert commands(home) == [("pause", "telegram")]
    assert len(replies) == 1
    assert replies[0].startswith("/pause queued (command 1)")
    assert {message.chat_id for message in telegram.messages} == {str(CHAT)}


@pytest.mark.parametrize(("text", "kind"), [("/resume", "resume"), ("/stop", "stop"), ("/start", "start")])
def test_control_command_from_the_user_chat_queues_its_kind(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path, text: str, kind: str
) -> None:
    replies = ask(poller, telegram, text)
    assert commands(home) == [(kind, "telegram")]
    assert "queued" in replies[0]


def test_start_queues_test_mode_and_is_refused_for_a_live_user(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    ask(poller, telegram, "/start")
    with with_store(home) as store:
        assert store.recent_commands()[0].args == {"mode": "TEST"}
        with store.transaction() as transaction:  # the user switched to LIVE on the dashboard
            request = CommandRequest(
                kind="set_mode",
                requested_by="web",
                requested_at=NOW,
                args={"mode": "LIVE"},
                live_confirmed=True,
            )
            command_id = transaction.submit_command(request)
            transaction.claim_next_command(engine_id="test", claimed_at=NOW)
            transaction.claim_next_command(engine_id="test", claimed_at=NOW)
            transaction.acknowledge_command(command_id, status="done", message="ok", acknowledged_at=NOW)
    before = len(commands(home))
    replies = ask(poller, telegram, "/start")
    assert replies[0].startswith("refused: the user trades LIVE")
    assert len(commands(home)) == before  # nothing written


def test_message_from_another_chat_gets_no_answer_and_changes_nothing(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert ask(poller, telegram, "/stop", chat=STRANGER) == []
    assert ask(poller, telegram, "/pause", chat=STRANGER) == []
    assert commands(home) == []
    assert [record.message for record in caplog.records].count(
        f"{USER}: Telegram message from chat {STRANGER} ignored (not the user's chat)"
    ) == 1  # logged once per chat


def test_each_update_is_answered_once_across_rounds(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    ask(poller, telegram, "/pause")
    poller.poll_once()  # the fake server returns every update again: the offset skips it
    assert len(telegram.messages) == 1
    assert commands(home) == [("pause", "telegram")]


def test_forcesell_when_flat_is_refused_and_writes_nothing(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    engine_trading(home)
    replies = ask(poller, telegram, "/forcesell news")
    assert replies == ["refused: no open TEST position of the bot's: nothing to sell"]
    assert commands(home) == []


def test_forcesell_with_a_position_and_a_trading_loop_is_queued_with_its_reason(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    hold_position(home)
    assert (
        ask(poller, telegram, "/forcesell")[0] == "refused: /forcesell needs a reason, e.g. /forcesell news"
    )
    assert ask(poller, telegram, "/forcesell news")[0].startswith("refused: the engine is not trading")
    engine_trading(home)
    assert "queued" in ask(poller, telegram, "/forcesell bad news")[0]
    with with_store(home) as store:
        command = store.recent_commands()[0]
    assert (command.kind, command.requested_by, command.args) == (
        "force_sell",
        "telegram",
        {"reason": "bad news"},
    )


def test_status_names_state_mode_position_entry_stop_target_and_equity(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    hold_position(home)
    engine_trading(home)
    text = ask(poller, telegram, "/status")[0]
    assert text.startswith(f"{USER}: running")
    assert "mode TEST" in text
    assert "KRW-BTC: 0.002 held; entry 50,000,000; stop 49,000,000, target 51,500,000" in text
    assert "equity 1,000,000 KRW (KRW 900,000 KRW)" in text  # no candle cached: valued at entry


def audit(executed_at: datetime, profit: int) -> TradeAudit:
    return TradeAudit(
        mode="TEST", market="KRW-BTC", side="ask", fill_price=Decimal(50_000_000), volume=Decimal("0.001"),
        fee=Decimal(25), params_version=1, conditions_version=1, cause="manual", executed_at=executed_at,
        realised_profit=Decimal(profit), rule="take_profit",
    )  # fmt: skip


def test_profit_and_daily_report_realised_profit_of_the_current_mode(
    poller: TelegramPoller, telegram: FakeTelegram, home: Path
) -> None:
    with with_store(home) as store, store.transaction() as transaction:
        transaction.append_trade_audit(audit(NOW - timedelta(hours=1), 1500))
        transaction.append_trade_audit(audit(NOW - timedelta(days=3), -500))
    assert ask(poller, telegram, "/profit")[0] == (
        "[TEST] all time: realised profit +1,000 KRW; 2 closed trade(s), 1 won (50% win rate)"
    )
    assert ask(poller, telegram, "/profit 2")[0].startswith(
        "[TEST] last 2 day(s): realised profit +1,500 KRW"
    )
    assert ask(poller, telegram, "/profit x")[0].startswith("refused: /profit takes a number of days")
    daily = ask(poller, telegram, "/daily")[0].splitlines()
    assert daily[1] == "2026-03-02: +1,500 KRW (1 trade(s))"
    assert daily[4] == "2026-02-27: -500 KRW (1 trade(s))"
    assert commands(home) == []  # reports change nothing


def test_help_lists_every_command_and_an_unknown_one_points_to_it(
    poller: TelegramPoller, telegram: FakeTelegram
) -> None:
    help_text = ask(poller, telegram, "/help")[0]
    for name in (
        "/status",
        "/profit",
        "/daily",
        "/pause",
        "/resume",
        "/stop",
        "/start",
        "/forcesell",
        "/help",
    ):
        assert name in help_text
    assert ask(poller, telegram, "/sell")[0] == "unknown command /sell; /help lists the commands"
    assert ask(poller, telegram, "hello") == []  # not a command: no reply


def wait_for_messages(telegram: FakeTelegram, count: int) -> bool:
    """True once the fake server has `count` replies; bounded so a failure cannot hang."""
    arrived = threading.Event()
    for _ in range(400):
        if len(telegram.messages) >= count:
            arrived.set()
            break
        arrived.wait(0.05)
    return arrived.is_set()


def test_poller_thread_drops_the_backlog_then_answers_and_stops(home: Path, telegram: FakeTelegram) -> None:
    telegram.push_update(CHAT, "/forcesell sent while the engine was down")
    telegram.push_update(CHAT, "hello")
    thread = TelegramPollerThread(TelegramPoller(home, USER, SystemClock()), SystemClock(), name="t").start()
    try:
        dropped = wait_for_messages(telegram, 1)
        telegram.push_update(CHAT, "/pause")
        answered = wait_for_messages(telegram, 2)
    finally:
        thread.stop()
    assert dropped
    assert answered
    assert telegram.texts()[0].startswith("not done: sent while the engine was not running")
    assert telegram.texts()[1].startswith("/pause queued")
    assert commands(home) == [("pause", "telegram")]
    assert not any(item.name == "t" and item.is_alive() for item in threading.enumerate())


def test_user_without_telegram_is_not_polled(tmp_path: Path, telegram: FakeTelegram) -> None:
    create_user(tmp_path, USER, None, NOW)
    telegram.push_update(CHAT, "/pause")
    poller = TelegramPoller(tmp_path, USER, StepClock(NOW))
    try:
        poller.poll_once()
    finally:
        poller.close()
    assert telegram.messages == []
    assert commands(tmp_path) == []
