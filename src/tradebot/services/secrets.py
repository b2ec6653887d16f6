"""Encryption at rest for users' API keys (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from `TRADEBOT_SECRET_KEY` (a Fernet key) or from `{home}/secret.key`, created on first
use with permissions 0600. Ciphertext is stored; the clear keys exist only in memory, and nothing
here logs or repeats them in an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from tradebot.core.errors import TradebotError

KEY_FILE_NAME = "secret.key"
ENVIRONMENT_KEY = "TRADEBOT_SECRET_KEY"


class SecretError(TradebotError):
    """The encryption key is missing, unreadable or does not open the stored ciphertext."""


class SecretBox:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError:
            raise SecretError("the encryption key is not a valid Fernet key") from None

    @classmethod
    def for_home(cls, home: Path, environment: Mapping[str, str] | None = None) -> SecretBox:
        """The box of a data directory: the environment's key, else the key file (created if absent)."""
        variables = os.environ if environment is None else environment
        if variables.get(ENVIRONMENT_KEY):
            return cls(variables[ENVIRONMENT_KEY].encode("ascii"))
        return cls(_key_file(home / KEY_FILE_NAME))

    def encrypt(self, secret: str) -> bytes:
        """Ciphertext of `secret`."""
        return self._fernet.encrypt(secret.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        """The secret back, or SecretError if the key does not match."""
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except InvalidToken:
            raise SecretError("stored keys cannot be decrypted with this encryption key") from None


def _key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            raise SecretError(f"{path} is readable by other users; run: chmod 600 {path}") from None
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(key + b"\n")
    return key
