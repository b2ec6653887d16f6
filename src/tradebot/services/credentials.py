"""The dashboard's login data: `{home}/credentials.yaml` (bcrypt hashes) and the cookie signing key.

`tradebot user add` (and a password change) writes the user's bcrypt hash here as well as in the
user's database; the dashboard logs people in against this file, in streamlit-authenticator's
layout. The file lives in the data directory, outside the repository, with permissions 0600, and
is replaced atomically so a reader never sees half of it.

The login cookie no longer needs a signing key: it holds the random id of a server-side session
(`services.web_sessions`). `cookie_key` and `ensure_cookie_key` (`TRADEBOT_COOKIE_KEY`, else
`{home}/cookie.key`, created 0600 when a user is added) remain for installs and tools that still
read them; the dashboard does not.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tradebot.core.errors import SettingsError
from tradebot.services.file_modes import write_file_atomically
from tradebot.services.users import validate_username

CREDENTIALS_FILE = "credentials.yaml"
COOKIE_KEY_FILE = "cookie.key"
COOKIE_KEY_VARIABLE = "TRADEBOT_COOKIE_KEY"
MIN_COOKIE_KEY_LENGTH = 32  # shorter HMAC keys make PyJWT warn, and are weak


def credentials_path(home: Path) -> Path:
    """`{home}/credentials.yaml`."""
    return home / CREDENTIALS_FILE


def load_credentials(home: Path) -> dict[str, Any]:
    """The credentials in streamlit-authenticator's layout: {"usernames": {name: {...}}}."""
    path = credentials_path(home)
    if not path.exists():
        return {"usernames": {}}
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError(f"{path}: unreadable credentials file: {error}") from error
    users = content.get("usernames") if isinstance(content, dict) else None
    if not isinstance(users, dict):
        raise SettingsError(f"{path}: expected a 'usernames' mapping")
    valid = {name: entry for name, entry in users.items() if _is_valid_entry(name, entry)}
    return {"usernames": valid}


def set_credential(home: Path, username: str, password_hash: str, display_name: str | None = None) -> None:
    """Add or replace the user's bcrypt hash in the credentials file (atomic, 0600)."""
    validate_username(username)
    credentials = load_credentials(home)
    credentials["usernames"][username] = {
        "name": display_name or username,
        "password": password_hash,
        "email": f"{username}@localhost",
        "failed_login_attempts": 0,
        "logged_in": False,
    }
    write_file_atomically(credentials_path(home), yaml.safe_dump(credentials, sort_keys=True))


def remove_credential(home: Path, username: str) -> None:
    """Remove the user's login (the user's database is left alone)."""
    credentials = load_credentials(home)
    if credentials["usernames"].pop(validate_username(username), None) is not None:
        write_file_atomically(credentials_path(home), yaml.safe_dump(credentials, sort_keys=True))


def cookie_key(home: Path, environment: Mapping[str, str] | None = None) -> str:
    """The cookie signing key from configuration; SettingsError when none is configured."""
    variables = os.environ if environment is None else environment
    configured = variables.get(COOKIE_KEY_VARIABLE, "").strip()
    if not configured:
        path = home / COOKIE_KEY_FILE
        if not path.exists():
            raise SettingsError(
                f"no cookie key: set {COOKIE_KEY_VARIABLE} or create {path} (tradebot user add does)"
            )
        configured = path.read_text(encoding="ascii").strip()
    if len(configured) < MIN_COOKIE_KEY_LENGTH:
        raise SettingsError(f"the cookie key must have at least {MIN_COOKIE_KEY_LENGTH} characters")
    return configured


def ensure_cookie_key(home: Path) -> None:
    """Create `{home}/cookie.key` with a random key if it does not exist yet."""
    path = home / COOKIE_KEY_FILE
    if not path.exists():
        write_file_atomically(path, secrets.token_urlsafe(48) + "\n")


def _is_valid_entry(name: object, entry: object) -> bool:
    """Only valid usernames with a password hash can log in (a name later becomes a file name)."""
    if not isinstance(name, str) or not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
        return False
    try:
        validate_username(name)
    except SettingsError:
        return False
    return True
