"""`tradebot user add`: passwords the login cannot take are refused, and a failed add leaves nothing.

The disk-full case runs the real CLI in a child process whose file-size limit (RLIMIT_FSIZE, with
SIGXFSZ ignored so the write fails with EFBIG instead of killing the process) is too small for a
database: what a full disk does to SQLite's first write.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.core.errors import SettingsError
from tradebot.services.credentials import credentials_path, load_credentials
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import check_password, create_user, validate_password, verify_login
from tradebot.services.web_sessions import SessionStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SOURCE = Path(__file__).resolve().parents[3] / "src"


@pytest.mark.parametrize(
    "password",
    [" leading-space-pw", "trailing-space-pw ", "trailing-return-pw\r", "tab\tinside-pw", "nul\x00inside-pw",
     "\u3000ideographic-space", "line-feed-pw\n", "delete\x7fchar-pw"],
)  # fmt: skip
def test_create_user_password_with_outer_whitespace_or_control_character_refused_nothing_written(
    tmp_path: Path, password: str
) -> None:
    with pytest.raises(SettingsError, match="password must not") as raised:
        create_user(tmp_path, "alice", password, NOW)
    assert password not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_validate_password_inner_spaces_and_unicode_accepted() -> None:
    assert validate_password("correct horse 배터리 staple") == "correct horse 배터리 staple"


def test_create_user_unreadable_credentials_file_leaves_no_database_or_settings(tmp_path: Path) -> None:
    credentials_path(tmp_path).write_text("usernames: [1, 2\n")
    with pytest.raises(SettingsError, match="unreadable credentials"):
        create_user(tmp_path, "alice", "correct-horse", NOW)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["credentials.yaml"]


def test_create_user_existing_user_refused_and_its_files_kept(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "correct-horse", NOW)
    before = sorted(path.name for path in tmp_path.iterdir())
    with pytest.raises(SettingsError, match="already exists"):
        create_user(tmp_path, "alice", "other-password", NOW)
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    assert check_password("correct-horse", load_credentials(tmp_path)["usernames"]["alice"]["password"])


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))


def test_cli_user_add_on_a_full_disk_fails_and_leaves_no_file(tmp_path: Path) -> None:
    environment = {**os.environ, "TRADEBOT_HOME": str(tmp_path), "PYTHONPATH": str(SOURCE)}
    result = subprocess.run(
        [sys.executable, "-m", "tradebot", "user", "add", "alice"],
        input="correct-horse\n", capture_output=True, text=True, env=environment,
        preexec_fn=_limit_file_size, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout
    assert [path.name for path in tmp_path.iterdir()] == []


def test_cli_user_add_password_with_trailing_return_refused(tmp_path: Path) -> None:
    environment = {**os.environ, "TRADEBOT_HOME": str(tmp_path), "PYTHONPATH": str(SOURCE)}
    result = subprocess.run(
        [sys.executable, "-m", "tradebot", "user", "add", "alice"],
        input="correct-horse\r\n", capture_output=True, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "password must not" in result.stderr
    assert [path.name for path in tmp_path.iterdir()] == []


def _cli(home: Path, *arguments: str, typed: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TRADEBOT_HOME": str(home), "PYTHONPATH": str(SOURCE)}
    return subprocess.run(  # noqa: S603 - our own CLI, arguments from the tests
        [sys.executable, "-m", "tradebot", "user", *arguments],
        input=typed, capture_output=True, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip


def test_cli_user_password_changes_login_and_ends_every_session(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "alice-old-password", NOW)
    sessions = SessionStore(tmp_path)
    tokens = [sessions.create("alice"), sessions.create("alice")]
    result = _cli(tmp_path, "password", "alice", typed="alice-new-password\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "password of alice changed; 2 dashboard session(s) ended\n"
    assert [sessions.resolve(token) for token in tokens] == [None, None]
    assert verify_login(tmp_path, "alice", "alice-new-password")
    with open_user_store(tmp_path, "alice") as store:
        user = store.user("alice")
    assert user is not None
    assert user.password_hash is not None
    assert check_password("alice-new-password", user.password_hash)


def test_cli_user_password_with_trailing_space_refused_old_login_kept(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "alice-old-password", NOW)
    token = SessionStore(tmp_path).create("alice")
    result = _cli(tmp_path, "password", "alice", typed="alice-new-password \n")
    assert result.returncode != 0
    assert "password must not start or end with whitespace" in result.stderr
    assert verify_login(tmp_path, "alice", "alice-old-password")
    assert SessionStore(tmp_path).resolve(token) == "alice"
