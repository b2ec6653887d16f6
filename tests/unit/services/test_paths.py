"""The data directory and per-user database names: `./data` by default, usernames checked first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradebot.core.errors import SettingsError
from tradebot.services.paths import HOME_VARIABLE, data_home, database_path
from tradebot.services.storage import open_user_store

UNSAFE_NAMES = [
    "../evil",
    "alice/../../etc",
    "Alice",
    "ab",
    "a" * 33,
    "al ice",
    "alice.db",
    "alice\n",
    "",
    "ａｌｉｃｅ",  # full-width letters look like a-z but are not
    "alice\x00x",
]


def test_data_home_without_variable_is_data_under_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_home({}) == tmp_path / "data"


def test_data_home_with_variable_is_that_directory(tmp_path: Path) -> None:
    assert data_home({HOME_VARIABLE: str(tmp_path / "elsewhere")}) == tmp_path / "elsewhere"


def test_data_home_relative_variable_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_home({HOME_VARIABLE: "store"}) == tmp_path / "store"


def test_data_home_blank_variable_falls_back_to_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert data_home({HOME_VARIABLE: "  "}) == tmp_path / "data"


def test_data_home_reads_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path))
    assert data_home() == tmp_path


@pytest.mark.parametrize("username", ["alice", "bob_2", "a1_", "x" * 32])
def test_database_path_valid_username_is_tradebot_name_db(tmp_path: Path, username: str) -> None:
    assert database_path(tmp_path, username) == tmp_path / f"tradebot_{username}.db"


@pytest.mark.parametrize("username", UNSAFE_NAMES)
def test_database_path_unsafe_username_refused(tmp_path: Path, username: str) -> None:
    with pytest.raises(SettingsError, match="invalid username") as error:
        database_path(tmp_path, username)
    assert "\n" not in str(error.value)  # the name is shown escaped, on one line


@pytest.mark.parametrize("username", UNSAFE_NAMES)
def test_open_user_store_unsafe_username_creates_nothing(tmp_path: Path, username: str) -> None:
    home = tmp_path / "home"
    with pytest.raises(SettingsError):
        open_user_store(home, username)
    assert not home.exists()
    assert list(tmp_path.iterdir()) == []


def test_open_user_store_creates_home_and_database(tmp_path: Path) -> None:
    home = tmp_path / "nested" / "home"
    with open_user_store(home, "alice") as store:
        assert store.path == home / "tradebot_alice.db"
    assert (home / "tradebot_alice.db").is_file()
