"""`tradebot notify set|show|test`: settings saved, secrets stored encrypted and only ever shown masked."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.cli import main
from tradebot.services.notifications.outbox import due
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user

TOKEN = "123456789:AAFakeTokenForTests0nly-abcdefghijWXYZ"  # noqa: S105 - a fake token for the tests
WEBHOOK = "https://discord.example/api/webhooks/1/SeCrEtPaTh0123456789"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRADEBOT_HOME", str(tmp_path))
    monkeypatch.delenv("TRADEBOT_SECRET_KEY", raising=False)
    create_user(tmp_path, "alice", None, datetime.now(UTC))
    return tmp_path


def test_notify_set_then_show_masked_and_never_the_secret(
    home: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    arguments = [
        "notify", "set", "--user", "alice", "--telegram-token", TOKEN, "--telegram-chat-id", "-1001234567890",
        "--webhook-url", WEBHOOK, "--webhook-format", "discord", "--event", "engine=off",
        "--event", "fill=silent", "--daily-summary", "21:00",
    ]  # fmt: skip
    assert main(arguments) == 0
    assert main(["notify", "show", "--user", "alice"]) == 0
    captured = capsys.readouterr()
    output = captured.out + captured.err + caplog.text
    assert "alice: notification settings saved" in output
    assert "alice: telegram: chat -1001234567890, token ****WXYZ, api https://api.telegram.org" in output
    assert "alice: webhook: https://discord.example/**** (discord)" in output
    assert "fill=silent" in output
    assert "engine=off" in output
    assert "alice: daily summary: 21:00 KST" in output
    for secret in ("AAFakeTokenForTests0nly", "SeCrEtPaTh0123456789"):
        assert secret not in output


def test_notify_set_secret_dash_read_from_stdin(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN + "\n"))
    command = ["notify", "set", "--user", "alice", "--telegram-token", "-", "--telegram-chat-id", "42"]
    assert main(command) == 0
    assert "token ****WXYZ" in capsys.readouterr().out


def test_notify_set_invalid_values_refused_with_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "set", "--user", "alice", "--telegram-chat-id", "not a chat"]) == 2
    assert "telegram_chat_id" in capsys.readouterr().err
    assert main(["notify", "set", "--user", "alice", "--telegram-token", "bad-token-value"]) == 2
    error = capsys.readouterr().err
    assert "Telegram token" in error
    assert "bad-token-value" not in error
    with pytest.raises(SystemExit) as usage:
        main(["notify", "set", "--user", "alice", "--event", "fill=loud"])
    assert usage.value.code == 2
    assert "KIND=LEVEL" in capsys.readouterr().err


def test_notify_unknown_user_refused_and_nothing_created(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "show", "--user", "bob"]) == 2
    assert "no user bob" in capsys.readouterr().err
    assert not (home / "tradebot_bob.db").exists()


def test_notify_test_without_channel_says_so_and_queues_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "test", "--user", "alice"]) == 1
    assert "no channel is configured" in capsys.readouterr().out


def test_notify_test_queues_a_message_delivered_when_the_engine_runs(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify", "set", "--user", "alice", "--webhook-url", WEBHOOK]) == 0
    assert main(["notify", "test", "--user", "alice"]) == 0
    out = capsys.readouterr().out
    assert "the engine is not running: it will be delivered when `tradebot engine` runs" in out
    with open_user_store(home, "alice", create=False) as store:
        [message] = due(store, datetime.now(UTC))
    assert message.kind == "test"
    assert f"test message {message.id} queued" in out
