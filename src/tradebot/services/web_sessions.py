"""Dashboard login sessions kept on the server: the browser holds only a random id that can be revoked.

A login creates a session: 32 random bytes (`secrets.token_urlsafe`) go to the browser as the login
cookie, and only their SHA-256 digest is stored, with the username, in `{home}/sessions.json`
(permissions 0600, replaced atomically, read-modify-write under an exclusive lock on
`{home}/sessions.lock`, so every dashboard session and process agrees). A session ends when

- it is older than `SESSION_LIFETIME` (absolute expiry, whatever the activity),
- nobody used it for `IDLE_TIMEOUT` (each page run that presents it counts as use; the time of
  last use is written at most once per `TOUCH_INTERVAL`, so reruns do not rewrite the file),
- the user logs out (`revoke`), or the user's password changes (`revoke_user`: every session).

Anything else a browser sends as a cookie (a signed token of the old scheme, `alg: none`, garbage,
a digest of a revoked session) resolves to no one. A file that cannot be read logs everyone out
rather than letting anyone in. Time comes from an injected clock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeGuard

from tradebot.core.clock import Clock, SystemClock
from tradebot.core.errors import SettingsError
from tradebot.services.file_modes import write_file_atomically
from tradebot.services.users import validate_username

logger = logging.getLogger(__name__)

SESSIONS_FILE = "sessions.json"
LOCK_FILE = "sessions.lock"
SESSION_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(hours=1)
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_SESSIONS = 1_000  # bounds the file; the least recently used sessions go first
TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # exactly what token_urlsafe(32) produces
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class WebSession:
    """One session as stored: whose it is, when it began and when it was last used."""

    username: str
    created_at: datetime
    last_seen: datetime


class SessionStore:
    """Creates, resolves and revokes the dashboard's login sessions in the data directory."""

    def __init__(
        self,
        home: Path,
        clock: Clock | None = None,
        *,
        lifetime: timedelta = SESSION_LIFETIME,
        idle_timeout: timedelta = IDLE_TIMEOUT,
    ) -> None:
        self.path = home / SESSIONS_FILE
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout

    def create(self, username: str) -> str:
        """A new session for `username`; returns the token for the cookie (never stored itself)."""
        validate_username(username)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock.now()
        with self._locked() as sessions:
            sessions[_digest(token)] = WebSession(username, created_at=now, last_seen=now)
        return token

    def resolve(self, token: object, *, touch: bool = True) -> str | None:
        """The username of the token's live session, or None; `touch` records the use (idle timer)."""
        if not _is_token(token):
            return None
        key, now = _digest(token), self.clock.now()
        session = self._read().get(key)
        if session is None or not self._is_live(session, now):
            return None
        if touch and now - session.last_seen >= TOUCH_INTERVAL:
            with self._locked() as sessions:
                current = sessions.get(key)
                if current is None or not self._is_live(current, now):
                    return None  # revoked or expired between the read and the lock
                sessions[key] = WebSession(current.username, current.created_at, last_seen=now)
        return session.username

    def revoke(self, token: object) -> None:
        """End the token's session (logout); an unknown token changes nothing."""
        if _is_token(token):
            with self._locked() as sessions:
                sessions.pop(_digest(token), None)

    def revoke_user(self, username: str) -> int:
        """End every session of `username` (password changed, login removed); returns how many."""
        validate_username(username)
        with self._locked() as sessions:
            ended = [key for key, session in sessions.items() if session.username == username]
            for key in ended:
                del sessions[key]
        if ended:
            logger.info("ended %d dashboard session(s) of %s", len(ended), username)
        return len(ended)

    def _is_live(self, session: WebSession, now: datetime) -> bool:
        return now < session.created_at + self.lifetime and now < session.last_seen + self.idle_timeout

    @contextmanager
    def _locked(self) -> Iterator[dict[str, WebSession]]:
        """The sessions under an exclusive lock, written back (live ones only) when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path.with_name(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            sessions = self._read()
            yield sessions
            self._write(self._pruned(sessions))
        finally:
            os.close(descriptor)  # closing releases the lock

    def _pruned(self, sessions: dict[str, WebSession]) -> dict[str, WebSession]:
        now = self.clock.now()
        live = [(key, session) for key, session in sessions.items() if self._is_live(session, now)]
        live.sort(key=lambda item: item[1].last_seen, reverse=True)
        return dict(live[:MAX_SESSIONS])

    def _read(self) -> dict[str, WebSession]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return {key: _session(entry) for key, entry in document.items() if DIGEST_PATTERN.fullmatch(key)}
        except FileNotFoundError:
            return {}
        except (
            OSError,
            ValueError,
            TypeError,
            AttributeError,
            KeyError,
            RecursionError,
            SettingsError,
        ) as error:
            # Fail closed: nobody is logged in until the next login replaces the file.
            logger.warning("%s is unreadable, every dashboard session has ended: %s", self.path, error)
            return {}

    def _write(self, sessions: dict[str, WebSession]) -> None:
        document = {
            key: {
                "username": session.username,
                "created_at": session.created_at.isoformat(),
                "last_seen": session.last_seen.isoformat(),
            }
            for key, session in sessions.items()
        }
        write_file_atomically(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def _is_token(token: object) -> TypeGuard[str]:
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def _digest(token: str) -> str:
    """What is stored instead of the token: a copy of the file does not log anyone in."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _session(entry: dict[str, object]) -> WebSession:
    username, created, seen = entry["username"], entry["created_at"], entry["last_seen"]
    if not isinstance(username, str) or not isinstance(created, str) or not isinstance(seen, str):
        raise TypeError("unexpected session record")
    created_at, last_seen = datetime.fromisoformat(created), datetime.fromisoformat(seen)
    if created_at.tzinfo is None or last_seen.tzinfo is None:
        raise ValueError("session times must carry their UTC offset")
    return WebSession(validate_username(username), created_at, last_seen)
