"""Login lockout: after repeated failed logins a username is refused for a while, right password or not.

Failures are counted per username in `{home}/login_failures.json` (permissions 0600, replaced
atomically, read-modify-write under an exclusive lock on `{home}/login_failures.lock`, so the
dashboard's sessions and several processes agree). `MAX_FAILURES` failures within `FAILURE_WINDOW`
lock the username for `LOCK_DURATION`; a successful login clears its count. Unknown but well-formed
usernames are counted too, so the answer does not tell which accounts exist. Time comes from an
injected clock. No password is ever written here, only the times of failures.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tradebot.core.clock import Clock, SystemClock
from tradebot.core.errors import SettingsError, TradebotError
from tradebot.services.file_modes import write_file_atomically
from tradebot.services.users import validate_username

logger = logging.getLogger(__name__)

FAILURES_FILE = "login_failures.json"
LOCK_FILE = "login_failures.lock"
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)
MAX_TRACKED_USERNAMES = 1_000  # bounds the file when someone tries many names


class LoginLocked(TradebotError):  # noqa: N818 - a state the user is told about, as in "account locked"
    """The username is locked after too many failed logins; the message says until when."""

    def __init__(self, username: str, until: datetime, now: datetime) -> None:
        minutes = max(1, math.ceil((until - now).total_seconds() / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(
            f"Too many failed logins for {username}: login is locked for {minutes} more {unit} "
            f"(until {until.astimezone(UTC):%H:%M} UTC), even with the right password."
        )
        self.username = username
        self.until = until


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """One username's recent failures and, if locked, when the lock ends."""

    failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None

    def last_seen(self) -> datetime:
        """The newest time this record holds (for dropping the oldest records first)."""
        return max([*self.failures, *([self.locked_until] if self.locked_until else [])])


class LoginGuard:
    """Counts failed logins per username in the data directory and locks after too many."""

    def __init__(
        self,
        home: Path,
        clock: Clock | None = None,
        *,
        max_failures: int = MAX_FAILURES,
        window: timedelta = FAILURE_WINDOW,
        lock_duration: timedelta = LOCK_DURATION,
    ) -> None:
        self.path = home / FAILURES_FILE
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.max_failures = max_failures
        self.window = window
        self.lock_duration = lock_duration

    def locked_until(self, username: str) -> datetime | None:
        """When the username's lock ends, or None when it may log in now."""
        now = self.clock.now()
        record = self._read().get(username)
        if record is None or record.locked_until is None or record.locked_until <= now:
            return None
        return record.locked_until

    def check(self, username: str) -> None:
        """Raise `LoginLocked` while the username is locked; otherwise return."""
        until = self.locked_until(username)
        if until is not None:
            raise LoginLocked(username, until, self.clock.now())

    def record_failure(self, username: str) -> datetime | None:
        """Count a failed login; returns the lock's end if this failure locked the username."""
        if not _is_username(username):
            return None  # such a name has no account and never becomes a key of the file
        now = self.clock.now()
        with self._locked() as records:
            old = records.pop(username, LoginRecord())  # re-inserted last: the newest on ties
            recent = (*(moment for moment in old.failures if moment > now - self.window), now)
            if len(recent) >= self.max_failures:
                records[username] = LoginRecord(locked_until=now + self.lock_duration)
                logger.warning("login locked for %s after %d failures", username, len(recent))
                return now + self.lock_duration
            records[username] = LoginRecord(failures=recent)
            return None

    def record_success(self, username: str) -> None:
        """A successful login clears the username's failures."""
        if _is_username(username):
            with self._locked() as records:
                records.pop(username, None)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, LoginRecord]]:
        """The records under an exclusive lock, written back (pruned) when the block ends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path.with_name(LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            records = self._read()
            yield records
            self._write(self._pruned(records))
        finally:
            os.close(descriptor)  # closing releases the lock

    def _pruned(self, records: dict[str, LoginRecord]) -> dict[str, LoginRecord]:
        now = self.clock.now()
        live = {
            name: record
            for name, record in records.items()
            if (record.locked_until is not None and record.locked_until > now)
            or any(moment > now - self.window for moment in record.failures)
        }
        order = {name: position for position, name in enumerate(live)}
        newest = sorted(live, key=lambda name: (live[name].last_seen(), order[name]), reverse=True)
        return {name: live[name] for name in sorted(newest[:MAX_TRACKED_USERNAMES], key=order.__getitem__)}

    def _read(self) -> dict[str, LoginRecord]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: _record(entry) for name, entry in document.items() if _is_username(name)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, AttributeError, KeyError, RecursionError) as error:
            # Unreadable counts must not lock everyone out; the next write replaces the file.
            logger.warning("%s is unreadable, starting the failure counts afresh: %s", self.path, error)
            return {}

    def _write(self, records: dict[str, LoginRecord]) -> None:
        document = {
            name: {
                "failures": [moment.isoformat() for moment in record.failures],
                "locked_until": record.locked_until.isoformat() if record.locked_until else None,
            }
            for name, record in records.items()
        }
        write_file_atomically(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n")


PasswordCheck = Callable[[str, str], bool | None]


def guarded_check(check: PasswordCheck, guard: LoginGuard) -> PasswordCheck:
    """`check(username, password)` behind the guard: a locked username raises `LoginLocked` before
    its password is even checked, a failure is counted (the one that locks raises at once) and a
    success clears the count."""

    def guarded(username: str, password: str) -> bool | None:
        guard.check(username)
        accepted = check(username, password)
        if accepted:
            guard.record_success(username)
            return accepted
        until = guard.record_failure(username)
        if until is not None:
            raise LoginLocked(username, until, guard.clock.now())
        return accepted

    return guarded


def _is_username(name: object) -> bool:
    if not isinstance(name, str):
        return False
    try:
        validate_username(name)
    except SettingsError:
        return False
    return True


def _record(entry: dict[str, object]) -> LoginRecord:
    failures = entry["failures"]
    locked = entry["locked_until"]
    if not isinstance(failures, list) or not (locked is None or isinstance(locked, str)):
        raise TypeError("unexpected login record")
    moments = tuple(_aware(datetime.fromisoformat(str(moment))) for moment in failures)
    return LoginRecord(moments, _aware(datetime.fromisoformat(locked)) if locked else None)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("login times must carry their UTC offset")
    return moment
