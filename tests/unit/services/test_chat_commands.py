"""Parsing of Telegram chat commands (`services.notifications.chat_commands.parse`)."""

from __future__ import annotations

import pytest

from tradebot.core.errors import SettingsError
from tradebot.services.notifications.chat_commands import ChatCommand, parse, parse_days


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status", ChatCommand("status", "")),
        ("  /PROFIT 7 ", ChatCommand("profit", "7")),
        ("/status@MyTradeBot", ChatCommand("status", "")),
        ("/forcesell  bad   news", ChatCommand("forcesell", "bad   news")),
        ("hello", None),
        ("/", None),
        ("", None),
    ],
)
def test_parse_text_gives_command_or_none(text: str, expected: ChatCommand | None) -> None:
    assert parse(text) == expected


def test_parse_days_empty_is_all_time_and_number_is_days() -> None:
    assert parse_days("") is None
    assert parse_days("30") == 30


@pytest.mark.parametrize("argument", ["0", "-1", "x", "3651", "1.5"])
def test_parse_days_out_of_range_or_not_a_number_is_refused(argument: str) -> None:
    with pytest.raises(SettingsError, match="number of days"):
        parse_days(argument)
