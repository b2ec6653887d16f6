"""Creating users, checking passwords and storing their Upbit keys.

A password is refused when it starts or ends with whitespace or holds a control character: the
terminal or a script easily adds a trailing space or `\r` the user never meant, and such a user could
never type it at the login. `create_user` leaves nothing behind when any step fails (a full disk, an
unreadable credentials file): what it created is removed before the error is raised.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import bcrypt

from tradebot.core.errors import SettingsError
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.credentials import (
    ensure_cookie_key,
    load_credentials,
    remove_credential,
    set_credential,
)
from tradebot.services.paths import database_path
from tradebot.services.records import DEFAULT_STARTING_KRW, AccountBalance, ApiKeys, User
from tradebot.services.secrets import SecretBox
from tradebot.services.settings_store import save_conditions, save_params
from tradebot.services.storage import Store, open_user_store
from tradebot.services.users import conditions_path, params_path, validate_username
from tradebot.services.web_sessions import SessionStore

logger = logging.getLogger(__name__)

BCRYPT_MAX_BYTES = 72  # bcrypt ignores what comes after; refuse rather than silently truncate
MIN_PASSWORD_CHARACTERS = 8
UNKNOWN_USER_HASH = "$2b$12$skRdXiptzXhMTZPBvRYPdewLi1AgznHSuMQ29vQsItvBRowtI4k.S"  # of no one's password


@dataclass(frozen=True, slots=True)
class UpbitKeys:
    """A user's key pair in clear, in memory only; `repr` never shows them."""

    access_key: str
    secret_key: str

    def __repr__(self) -> str:
        return "UpbitKeys(access_key=***, secret_key=***)"


def validate_password(password: str) -> str:
    """Return `password` if it can be typed at the login; SettingsError (never echoing it) otherwise."""
    if password != password.strip():
        raise SettingsError("password must not start or end with whitespace")
    if any(unicodedata.category(character) == "Cc" for character in password):
        raise SettingsError("password must not contain control characters (such as tab or carriage return)")
    return password


def hash_password(password: str) -> str:
    """A bcrypt hash; refuses passwords bcrypt would truncate, that are too short or untypable."""
    validate_password(password)
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise SettingsError(f"password is longer than {BCRYPT_MAX_BYTES} bytes")
    if len(password) < MIN_PASSWORD_CHARACTERS:
        raise SettingsError(f"password needs at least {MIN_PASSWORD_CHARACTERS} characters")
    return bcrypt.hashpw(encoded, bcrypt.gensalt()).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    """True if `password` matches the stored hash."""
    encoded = password.encode("utf-8")
    return len(encoded) <= BCRYPT_MAX_BYTES and bcrypt.checkpw(encoded, password_hash.encode("ascii"))


def create_user(
    home: Path,
    username: str,
    password: str | None,
    now: datetime,
    starting_krw: Decimal = DEFAULT_STARTING_KRW,
) -> Path:
    """Create the user's database, TEST account and default settings files; returns the database path.

    All or nothing: when a step fails, what this call created is removed again.
    """
    validate_username(username)
    password_hash = hash_password(password) if password is not None else None
    with _undone_on_failure() as undo:
        path = _create_database(home, username, password_hash, now, starting_krw, undo)
        if not params_path(home, username).exists():
            undo.append(params_path(home, username).unlink)
            save_params(params_path(home, username), StrategyParams())
        if not conditions_path(home, username).exists():
            undo.append(conditions_path(home, username).unlink)
            save_conditions(conditions_path(home, username), Conditions())
        if password_hash is not None:  # the dashboard's login file and cookie key
            if username not in load_credentials(home)["usernames"]:  # unreadable: fails before writing
                undo.append(lambda: remove_credential(home, username))
            set_credential(home, username, password_hash)
            ensure_cookie_key(home)
    return path


def _create_database(
    home: Path,
    username: str,
    password_hash: str | None,
    now: datetime,
    starting_krw: Decimal,
    undo: list[Callable[[], None]],
) -> Path:
    """The user's new database with its user row and TEST account; `undo` learns how to remove it."""
    database = database_path(home, username)
    if not database.exists():
        for suffix in ("", "-wal", "-shm", "-journal"):
            undo.append(database.with_name(database.name + suffix).unlink)
    with open_user_store(home, username) as store:
        if store.user(username) is not None:
            raise SettingsError(f"user {username} already exists")
        with store.transaction() as transaction:
            transaction.save_user(User(username=username, password_hash=password_hash, created_at=now))
            transaction.set_account(
                AccountBalance(
                    mode="TEST", krw_balance=starting_krw, starting_krw=starting_krw, updated_at=now
                )
            )
        return store.path


@contextmanager
def _undone_on_failure() -> Iterator[list[Callable[[], None]]]:
    """Yields a list of undo steps; if the block fails they run, newest first, and the error is re-raised.

    An undo step that fails itself (a file already gone, a credentials file that cannot be
    rewritten) does not hide the original error.
    """
    undo: list[Callable[[], None]] = []
    try:
        yield undo
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except (OSError, SettingsError):
                continue
        raise


def change_password(home: Path, username: str, password: str) -> int:
    """Set a new password (database and login file) and end every dashboard session of the user.

    Returns how many sessions ended. A user without a database is refused (nothing is created).
    """
    validate_username(username)
    password_hash = hash_password(password)
    if not database_path(home, username).exists():  # opening would create an empty database
        raise SettingsError(f"no user {username}; create it with: tradebot user add {username}")
    with open_user_store(home, username) as store:
        user = store.user(username)
        if user is None:
            raise SettingsError(f"no user {username}; create it with: tradebot user add {username}")
        with store.transaction() as transaction:
            transaction.save_user(replace(user, password_hash=password_hash))
    set_credential(home, username, password_hash)
    return SessionStore(home).revoke_user(username)


def verify_login(home: Path, username: str, password: str) -> bool:
    """True if `username` has a dashboard login and `password` is its password.

    An unknown username costs one bcrypt check too, so the time taken does not tell which exist.
    """
    entry = load_credentials(home)["usernames"].get(username)
    if entry is None:
        check_password(password, UNKNOWN_USER_HASH)
        return False
    try:
        return check_password(password, entry["password"])
    except ValueError:  # not a bcrypt hash (edited by hand): no password opens it
        logger.warning("the login of %s in credentials.yaml is not a bcrypt hash: it cannot log in", username)
        return False


def store_keys(store: Store, box: SecretBox, username: str, keys: UpbitKeys, now: datetime) -> None:
    """Save the key pair encrypted."""
    record = ApiKeys(
        username=username,
        access_key_ciphertext=box.encrypt(keys.access_key),
        secret_key_ciphertext=box.encrypt(keys.secret_key),
        updated_at=now,
    )
    with store.transaction() as transaction:
        transaction.set_api_keys(record)


def save_keys(home: Path, username: str, keys: UpbitKeys, now: datetime) -> None:
    """Store the key pair of an existing user, encrypted with the data directory's key."""
    if not database_path(home, username).exists():  # opening would create an empty database
        raise SettingsError(f"no user {username}; create it with: tradebot user add {username}")
    with open_user_store(home, username) as store:
        if store.user(username) is None:
            raise SettingsError(f"no user {username}; create it with: tradebot user add {username}")
        store_keys(store, SecretBox.for_home(home), username, keys, now)


def load_keys(store: Store, box: SecretBox, username: str) -> UpbitKeys | None:
    """The decrypted key pair, or None if the user stored none."""
    record = store.api_keys(username)
    if record is None:
        return None
    return UpbitKeys(box.decrypt(record.access_key_ciphertext), box.decrypt(record.secret_key_ciphertext))
