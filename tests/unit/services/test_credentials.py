"""The dashboard's credentials file and cookie key."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.core.errors import SettingsError
from tradebot.services.credentials import (
    COOKIE_KEY_VARIABLE,
    cookie_key,
    credentials_path,
    load_credentials,
    remove_credential,
    set_credential,
)
from tradebot.services.user_admin import check_password, create_user

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_create_user_with_password_writes_private_credentials_and_cookie_key(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "correct-horse", NOW)
    entry = load_credentials(tmp_path)["usernames"]["alice"]
    assert check_password("correct-horse", entry["password"])
    assert stat.S_IMODE(credentials_path(tmp_path).stat().st_mode) == 0o600
    assert len(cookie_key(tmp_path, environment={})) >= 32
    assert stat.S_IMODE((tmp_path / "cookie.key").stat().st_mode) == 0o600


def test_create_user_without_password_has_no_login(tmp_path: Path) -> None:
    create_user(tmp_path, "robot", None, NOW)
    assert load_credentials(tmp_path) == {"usernames": {}}


def test_load_credentials_invalid_username_entries_dropped(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text(
        "usernames:\n  ../evil: {password: x}\n  bob: {password: h}\n  carol: {name: no-hash}\n"
    )
    assert list(load_credentials(tmp_path)["usernames"]) == ["bob"]


def test_load_credentials_malformed_file_raises_clear_error(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text("usernames: [1, 2\n")
    with pytest.raises(SettingsError, match="unreadable credentials"):
        load_credentials(tmp_path)


def test_set_credential_invalid_username_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="invalid username"):
        set_credential(tmp_path, "../../etc", "hash")


def test_remove_credential_keeps_others(tmp_path: Path) -> None:
    set_credential(tmp_path, "alice", "h1")
    set_credential(tmp_path, "bob", "h2")
    remove_credential(tmp_path, "alice")
    assert list(load_credentials(tmp_path)["usernames"]) == ["bob"]


def test_cookie_key_missing_refused_without_default(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no cookie key"):
        cookie_key(tmp_path, environment={})


def test_cookie_key_short_environment_value_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 32"):
        cookie_key(tmp_path, environment={COOKIE_KEY_VARIABLE: "short"})


def test_cookie_key_environment_preferred(tmp_path: Path) -> None:
    assert cookie_key(tmp_path, environment={COOKIE_KEY_VARIABLE: "k" * 40}) == "k" * 40
