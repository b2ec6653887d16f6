"""The login lockout on an injected clock: five failures in 15 minutes lock a username for 15 minutes."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.clocks import StepClock
from tradebot.services import login_guard
from tradebot.services.login_guard import (
    FAILURES_FILE,
    LoginGuard,
    LoginLocked,
    PasswordCheck,
    guarded_check,
)

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PASSWORD = "alice-password-1"  # noqa: S105 - a test password


@pytest.fixture
def clock() -> StepClock:
    return StepClock(START)


@pytest.fixture
def guard(tmp_path: Path, clock: StepClock) -> LoginGuard:
    return LoginGuard(tmp_path, clock)


def checked_passwords(calls: list[str]) -> PasswordCheck:
    """A password check that records which usernames it really checked."""

    def check(username: str, password: str) -> bool:
        calls.append(username)
        return password == PASSWORD

    return check


def fail(guard: LoginGuard, username: str = "alice", times: int = 1) -> datetime | None:
    until = None
    for _ in range(times):
        until = guard.record_failure(username)
    return until


def test_login_guard_four_failures_leave_the_username_open(guard: LoginGuard) -> None:
    assert fail(guard, times=4) is None
    assert guard.locked_until("alice") is None
    guard.check("alice")


def test_login_guard_fifth_failure_within_window_locks_for_fifteen_minutes(
    guard: LoginGuard, clock: StepClock
) -> None:
    fail(guard, times=4)
    clock.advance(14 * 60)
    assert fail(guard) == START + timedelta(minutes=29)
    with pytest.raises(LoginLocked) as locked:
        guard.check("alice")
    assert str(locked.value) == (
        "Too many failed logins for alice: login is locked for 15 more minutes (until 09:29 UTC), "
        "even with the right password."
    )
    assert locked.value.until == START + timedelta(minutes=29)


def test_login_guard_failures_older_than_the_window_are_forgotten(
    guard: LoginGuard, clock: StepClock
) -> None:
    fail(guard, times=4)
    clock.advance(15 * 60 + 1)
    assert fail(guard, times=4) is None
    assert guard.locked_until("alice") is None


def test_login_guard_lock_ends_after_fifteen_minutes(guard: LoginGuard, clock: StepClock) -> None:
    fail(guard, times=5)
    clock.advance(15 * 60 - 1)
    with pytest.raises(LoginLocked, match="locked for 1 more minute "):
        guard.check("alice")
    clock.advance(1)
    guard.check("alice")
    assert fail(guard) is None  # the count starts again from zero


def test_login_guard_success_clears_the_count(guard: LoginGuard) -> None:
    fail(guard, times=4)
    guard.record_success("alice")
    assert fail(guard, times=4) is None


def test_login_guard_counts_each_username_separately(guard: LoginGuard) -> None:
    fail(guard, "alice", times=5)
    guard.check("bob")
    assert fail(guard, "bob", times=4) is None


def test_login_guard_counts_survive_a_new_guard_on_the_same_directory(
    tmp_path: Path, guard: LoginGuard, clock: StepClock
) -> None:
    fail(guard, times=5)
    with pytest.raises(LoginLocked):
        LoginGuard(tmp_path, clock).check("alice")


def test_login_guard_file_is_private_and_holds_only_times(tmp_path: Path, guard: LoginGuard) -> None:
    fail(guard, times=2)
    path = tmp_path / FAILURES_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "alice": {"failures": [START.isoformat(), START.isoformat()], "locked_until": None}
    }


@pytest.mark.parametrize("name", ["../alice", "ALICE", "a", "al\x00ice", "ａｌｉｃｅ"])
def test_login_guard_invalid_username_is_never_written(tmp_path: Path, guard: LoginGuard, name: str) -> None:
    assert fail(guard, name, times=6) is None
    guard.check(name)
    assert not (tmp_path / FAILURES_FILE).exists()


@pytest.mark.parametrize("content", ["not json", "[]", '{"alice": 5}', '{"alice": {"failures": ["x"]}}', ""])
def test_login_guard_unreadable_file_starts_afresh_and_is_replaced(
    tmp_path: Path, guard: LoginGuard, content: str
) -> None:
    (tmp_path / FAILURES_FILE).write_text(content)
    guard.check("alice")
    fail(guard)
    assert list(json.loads((tmp_path / FAILURES_FILE).read_text())) == ["alice"]


def test_login_guard_expired_records_are_dropped_and_the_file_is_bounded(
    tmp_path: Path, guard: LoginGuard, clock: StepClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(login_guard, "MAX_TRACKED_USERNAMES", 10)
    fail(guard, "old_user")
    clock.advance(16 * 60)
    for index in range(12):
        guard.record_failure(f"user_{index:02}")
    fail(guard, "user_00")  # an older name failing again is the newest again
    names = set(json.loads((tmp_path / FAILURES_FILE).read_text()))
    assert names == {"user_00", *(f"user_{index:02}" for index in range(3, 12))}


def test_login_guard_concurrent_failures_are_all_counted(tmp_path: Path, clock: StepClock) -> None:
    guards = [LoginGuard(tmp_path, clock, max_failures=1000) for _ in range(8)]
    threads = [threading.Thread(target=fail, args=(guard, "alice", 5)) for guard in guards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(json.loads((tmp_path / FAILURES_FILE).read_text())["alice"]["failures"]) == 40


def test_guarded_check_locked_username_is_refused_before_the_password_is_checked(guard: LoginGuard) -> None:
    calls: list[str] = []
    check = guarded_check(checked_passwords(calls), guard)
    for _ in range(4):
        assert check("alice", "wrong") is False
    with pytest.raises(LoginLocked):
        check("alice", "wrong")  # the failure that locks says so at once
    with pytest.raises(LoginLocked):
        check("alice", PASSWORD)
    assert calls == ["alice"] * 5


def test_guarded_check_success_resets_and_returns_the_answer(guard: LoginGuard) -> None:
    check = guarded_check(checked_passwords([]), guard)
    for _ in range(4):
        check("alice", "wrong")
    assert check("alice", PASSWORD) is True
    for _ in range(4):
        assert check("alice", "wrong") is False
