"""Usernames: only `^[a-z0-9_]{3,32}$` becomes part of a file name; anything else is refused first.

Path traversal (`../`, `/`, `\\`, NUL), unicode look-alikes, SQL metacharacters and overlong names
are refused with a `SettingsError` before any path is built, and nothing is created anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.property.strategies import PROPERTY_SETTINGS, one_line
from tradebot.core.errors import SettingsError
from tradebot.services.credentials import (
    credentials_path,
    load_credentials,
    remove_credential,
    set_credential,
)
from tradebot.services.paths import database_path
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import create_user
from tradebot.services.users import conditions_path, params_path, validate_username

VALID = re.compile(r"[a-z0-9_]{3,32}", re.ASCII)
FAKE_HASH = "$2b$12$" + "a" * 53
ATTACKS = [
    "../alice",
    "..",
    "alice/../../etc",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..\\..\\windows",
    "alice\x00",
    "ali\x00ce",
    "alice\n",
    " alice",
    "alice ",
    "Alice",
    "ALICE",
    "\u0430lice",  # Cyrillic a (U+0430)
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth alice
    "alıce",  # dotless i
    "alice\u200b",  # zero-width space
    "ali\u0301ce",  # combining accent
    "٣٣٣",  # Arabic-Indic digits: \d would match them
    "alice'; DROP TABLE users;--",
    'alice" OR "1"="1',
    "alice%00",
    "alice%2e%2e",
    "a",
    "ab",
    "a" * 33,
    "a" * 10_000,
    "",
    "~alice",
    "$HOME",
    "alice*",
    "tradebot_alice.db",
]
PATH_BUILDERS: list[Callable[[Path, str], Path]] = [database_path, params_path, conditions_path]
NAME_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from("abcxyz019_./\\\x00'\";-%~ "),
    max_size=40,
)


def everything_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


@pytest.mark.parametrize("name", ATTACKS)
def test_validate_username_attack_is_refused_with_one_line(name: str) -> None:
    with pytest.raises(SettingsError) as refused:
        validate_username(name)
    assert one_line(str(refused.value))
    assert "\x00" not in str(refused.value)


@pytest.mark.parametrize("name", ATTACKS)
def test_user_files_attack_name_creates_nothing_anywhere(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for build in PATH_BUILDERS:
        with pytest.raises(SettingsError):
            build(home, name)
    with pytest.raises(SettingsError):
        open_user_store(home, name)
    with pytest.raises(SettingsError):
        create_user(home, name, None, datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(SettingsError):
        set_credential(home, name, FAKE_HASH)
    with pytest.raises(SettingsError):
        remove_credential(home, name)
    assert everything_under(tmp_path) == ["home"]


@PROPERTY_SETTINGS
@given(name=NAME_TEXT)
def test_validate_username_accepts_exactly_the_ascii_pattern(name: str) -> None:
    if VALID.fullmatch(name):
        assert validate_username(name) == name
    else:
        with pytest.raises(SettingsError):
            validate_username(name)


@PROPERTY_SETTINGS
@given(name=NAME_TEXT | st.from_regex(VALID, fullmatch=True))
def test_user_paths_stay_directly_in_the_data_directory(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    for build in PATH_BUILDERS:
        try:
            path = build(home, name)
        except SettingsError:
            assert not VALID.fullmatch(name)
            continue
        assert path.parent == home
        assert path.resolve().parent == home.resolve()
        assert name in path.name
    assert not home.exists()  # building a path creates nothing


@PROPERTY_SETTINGS
@given(name=NAME_TEXT.filter(lambda text: not VALID.fullmatch(text)))
def test_open_user_store_invalid_name_creates_nothing(tmp_path: Path, name: str) -> None:
    home = tmp_path / "home"
    with pytest.raises(SettingsError):
        open_user_store(home, name)
    assert not home.exists()


def test_credentials_file_crafted_entries_with_bad_names_are_ignored(tmp_path: Path) -> None:
    names = ["alice", "../bob", "BOB", "a/b", "al\x00ice", "x"]
    lines = ["usernames:"] + [
        f'  "{name.encode("unicode_escape").decode()}": {{password: "{FAKE_HASH}"}}' for name in names
    ]
    credentials_path(tmp_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert list(load_credentials(tmp_path)["usernames"]) == ["alice"]
