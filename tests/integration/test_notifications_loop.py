"""The live loop against the simulator writes one notification per fill, in TEST and LIVE (issue 14).

Delivery is not part of this test: the rows are read back from the outbox.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tradebot.services.notifications.outbox import due
from tradebot.services.notifications.setup import NotifyChanges, save_changes
from tradebot.services.records import Mode
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import open_user_store

from .conftest import Simulator
from .test_live_loop import USER, exchange, prepare_user, run_cycles, start_loop

__all__ = ["exchange"]  # the fixture this module uses
TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests


@pytest.mark.parametrize("mode", ["TEST", "LIVE"])
def test_loop_fills_each_write_one_fill_message(
    exchange: Simulator, tmp_path: Path, resources: ExitStack, mode: Mode
) -> None:
    prepare_user(tmp_path, mode)
    with open_user_store(tmp_path, USER) as store:
        changes = NotifyChanges(telegram_token=TOKEN, telegram_chat_id="42", events={"engine": "off"})
        save_changes(store, SecretBox(Fernet.generate_key()), changes, now=datetime.now(UTC), updated_by="t")
    loop = start_loop(exchange, tmp_path, mode, resources)
    run_cycles(exchange, loop, 120)
    with open_user_store(tmp_path, USER) as store:
        audits = store.trade_audits()
        messages = due(store, datetime.now(UTC) + timedelta(days=3650), limit=1000)
    assert {audit.side for audit in audits} == {"bid", "ask"}
    assert [message.kind for message in messages] == ["fill"] * len(audits)
    for audit, message in zip(audits, messages, strict=True):
        side = "buy" if audit.side == "bid" else "sell"
        assert message.text.startswith(f"[{mode}] KRW-BTC {side} filled: ")
        assert f"rule: {audit.rule}" in message.text
        assert ("realised profit" in message.text) == (audit.realised_profit is not None)
        assert message.created_at == audit.executed_at
