"""Usernames and the per-user file names derived from them."""

from __future__ import annotations

import re
from pathlib import Path

from tradebot.core.errors import SettingsError

USERNAME_PATTERN = re.compile(r"[a-z0-9_]{3,32}")


def validate_username(username: str) -> str:
    """Return `username` if it is 3-32 of `a-z 0-9 _`; refuse anything else before a path is built."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise SettingsError(f"invalid username {username!r}: use 3-32 characters from a-z, 0-9 and _")
    return username


def params_path(home: Path, username: str) -> Path:
    """`{home}/{user}_latest_params.json`."""
    return home / f"{validate_username(username)}_latest_params.json"


def conditions_path(home: Path, username: str) -> Path:
    """`{home}/{user}_buy_sell_conditions.json`."""
    return home / f"{validate_username(username)}_buy_sell_conditions.json"
