"""Server-side dashboard sessions on an injected clock: random ids stored hashed, expiry, idle, revocation."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from tests.fakes.clocks import StepClock
from tradebot.services.credentials import set_credential
from tradebot.services.user_admin import change_password, create_user, verify_login
from tradebot.services.web_sessions import (
    IDLE_TIMEOUT,
    SESSION_LIFETIME,
    SESSIONS_FILE,
    TOUCH_INTERVAL,
    SessionStore,
)

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> StepClock:
    return StepClock(START)


@pytest.fixture
def store(tmp_path: Path, clock: StepClock) -> SessionStore:
    return SessionStore(tmp_path, clock)


def test_session_create_resolves_to_user_and_file_holds_only_private_digest(
    store: SessionStore, tmp_path: Path
) -> None:
    token = store.create("alice")
    assert store.resolve(token) == "alice"
    text = (tmp_path / SESSIONS_FILE).read_text()
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() in json.loads(text)
    assert stat.S_IMODE((tmp_path / SESSIONS_FILE).stat().st_mode) == 0o600


def test_session_tokens_are_random_and_distinct(store: SessionStore) -> None:
    tokens = {store.create("alice") for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(token) == 43 for token in tokens)


def test_session_revoke_ends_only_that_session(store: SessionStore) -> None:
    first, second = store.create("alice"), store.create("alice")
    store.revoke(first)
    assert store.resolve(first) is None
    assert store.resolve(second) == "alice"


def test_session_revoke_user_ends_every_session_of_that_user_only(store: SessionStore) -> None:
    alice = [store.create("alice") for _ in range(3)]
    bob = store.create("bob")
    assert store.revoke_user("alice") == 3
    assert [store.resolve(token) for token in alice] == [None, None, None]
    assert store.resolve(bob) == "bob"


def test_session_idle_longer_than_timeout_ends(store: SessionStore, clock: StepClock) -> None:
    token = store.create("alice")
    clock.advance(IDLE_TIMEOUT - timedelta(seconds=1))
    assert store.resolve(token) == "alice"
    clock.advance(IDLE_TIMEOUT - timedelta(seconds=1))  # used just before: still live
    assert store.resolve(token) == "alice"
    clock.advance(IDLE_TIMEOUT)
    assert store.resolve(token) is None


def test_session_in_use_still_ends_at_absolute_lifetime(store: SessionStore, clock: StepClock) -> None:
    token = store.create("alice")
    while clock.now() < START + SESSION_LIFETIME - TOUCH_INTERVAL:
        assert store.resolve(token) == "alice"
        clock.advance(TOUCH_INTERVAL * 10)
    clock.moment = START + SESSION_LIFETIME
    assert store.resolve(token) is None


def test_session_use_recorded_at_most_once_per_touch_interval(
    store: SessionStore, clock: StepClock, tmp_path: Path
) -> None:
    token = store.create("alice")
    written = (tmp_path / SESSIONS_FILE).read_text()
    clock.advance(TOUCH_INTERVAL / 2)
    store.resolve(token)
    assert (tmp_path / SESSIONS_FILE).read_text() == written
    clock.advance(TOUCH_INTERVAL)
    store.resolve(token)
    assert (tmp_path / SESSIONS_FILE).read_text() != written


@pytest.mark.parametrize(
    "cookie",
    [
        None, 7, "", "garbage", "A" * 43, "A" * 44, "../../etc/passwd", "é" * 43,
        jwt.encode({"username": "alice", "exp_date": 4e9}, key=None, algorithm="none"),
        jwt.encode({"username": "alice", "exp_date": 4e9}, "k" * 64, algorithm="HS512"),
        jwt.encode({"username": "alice", "exp_date": 4e9}, "k" * 64, algorithm="HS256"),
    ],
)  # fmt: skip
def test_session_resolve_foreign_or_malformed_cookie_is_no_one(store: SessionStore, cookie: object) -> None:
    store.create("alice")
    assert store.resolve(cookie) is None
    store.revoke(cookie)  # and revoking it is harmless


def test_session_digest_copied_into_cookie_does_not_log_in(store: SessionStore, tmp_path: Path) -> None:
    store.create("alice")
    (digest,) = json.loads((tmp_path / SESSIONS_FILE).read_text())
    assert store.resolve(digest) is None


@pytest.mark.parametrize("content", ["{not json", '{"%s": {"username": "../x"}}' % ("a" * 64), "[]"])
def test_session_unreadable_file_logs_everyone_out(store: SessionStore, tmp_path: Path, content: str) -> None:
    token = store.create("alice")
    (tmp_path / SESSIONS_FILE).write_text(content)
    assert store.resolve(token) is None
    assert store.resolve(store.create("alice")) == "alice"  # the next login replaces the file


def test_change_password_revokes_sessions_and_new_password_logs_in(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "alice-old-password", START)
    sessions = SessionStore(tmp_path)
    token = sessions.create("alice")
    assert change_password(tmp_path, "alice", "alice-new-password") == 1
    assert sessions.resolve(token) is None
    assert verify_login(tmp_path, "alice", "alice-new-password")
    assert not verify_login(tmp_path, "alice", "alice-old-password")


def test_change_password_unknown_user_refused_and_nothing_created(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no user mallory"):
        change_password(tmp_path, "mallory", "some-password-1")
    assert list(tmp_path.iterdir()) == []


def test_verify_login_unknown_user_or_broken_hash_false(tmp_path: Path) -> None:
    create_user(tmp_path, "alice", "alice-password", START)
    assert not verify_login(tmp_path, "nobody", "alice-password")
    set_credential(tmp_path, "bob", "$2b$12$" + "a" * 53)  # hand-edited: not a valid bcrypt salt
    assert not verify_login(tmp_path, "bob", "bob-password")


def test_session_checked_without_touch_still_goes_idle(store: SessionStore, clock: StepClock) -> None:
    token = store.create("alice")
    clock.advance(IDLE_TIMEOUT - timedelta(seconds=1))
    assert store.resolve(token, touch=False) == "alice"
    clock.advance(timedelta(seconds=2))  # a recorded use a second ago would keep it live
    assert store.resolve(token, touch=False) is None
