"""A user's AI review set-up: settings, the API key (stored encrypted, or `OPENAI_API_KEY`) and status.

The key stored for the user wins over the environment's. The feature is available only when the
user switched it on *and* a key is configured; otherwise `availability()` says what is missing.
The clear key lives only in memory: `repr` hides it and nothing here logs or repeats it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from tradebot.core.clock import Clock
from tradebot.core.errors import SettingsError
from tradebot.services.ai_review.config import AiSettings, ModelPrice
from tradebot.services.ai_review.store import (
    delete_key,
    read_key_ciphertext,
    read_settings,
    write_key_ciphertext,
    write_settings,
)
from tradebot.services.secrets import SecretBox, SecretError
from tradebot.services.storage import Reader, Store

ENVIRONMENT_KEY = "OPENAI_API_KEY"
MAX_KEY_CHARACTERS = 512
KeySource = Literal["stored", "environment"]
HOW_TO_ENABLE = (
    "AI review is off. To enable it: save an OpenAI API key in the AI settings (stored encrypted) "
    f"or set {ENVIRONMENT_KEY} for the dashboard and the engine, then switch 'enabled' on. "
    "Nothing is sent to any AI service until then."
)


@dataclass(frozen=True, slots=True)
class AiRuntime:
    """What the features need besides the database: the key box, the clock, and optional overrides.

    `environment` replaces `os.environ` (for `OPENAI_API_KEY`); `prices` replaces the price table.
    """

    box: SecretBox
    clock: Clock
    environment: Mapping[str, str] | None = None
    prices: dict[str, ModelPrice] | None = None


@dataclass(frozen=True, slots=True)
class AiAvailability:
    """Whether the AI features may be used now, and a one-line message for the user."""

    enabled: bool
    message: str

    @property
    def state(self) -> Literal["enabled", "disabled"]:
        """`enabled` or `disabled`."""
        return "enabled" if self.enabled else "disabled"


@dataclass(frozen=True, slots=True)
class AiSetup:
    """Settings plus the resolved key; `api_key` is None when none is configured or readable."""

    settings: AiSettings
    api_key: str | None = field(repr=False)
    key_source: KeySource | None
    key_problem: str | None = None

    def availability(self) -> AiAvailability:
        """Enabled only with the switch on and a key; else how to enable it."""
        if self.key_problem is not None:
            return AiAvailability(False, f"AI review is off: {self.key_problem}")
        if self.api_key is None:
            return AiAvailability(False, HOW_TO_ENABLE)
        if not self.settings.enabled:
            return AiAvailability(
                False,
                f"AI review is off: an API key is configured ({self.key_source}); "
                "switch 'enabled' on in the AI settings to use it.",
            )
        cap = self.settings.monthly_cap_usd
        return AiAvailability(
            True,
            f"AI review is on: model {self.settings.model}, cap {cap} USD per month ({self.key_source} key).",
        )


def load_setup(
    reader: Reader, username: str, box: SecretBox, environment: Mapping[str, str] | None = None
) -> AiSetup:
    """The user's settings (defaults if never saved) and key: stored first, then `OPENAI_API_KEY`."""
    settings = read_settings(reader, username) or AiSettings()
    ciphertext = read_key_ciphertext(reader, username)
    if ciphertext is not None:
        try:
            return AiSetup(settings, box.decrypt(ciphertext), "stored")
        except SecretError:
            problem = (
                "the stored OpenAI API key cannot be decrypted with this data directory's key; save it again"
            )
            return AiSetup(settings, None, None, problem)
    variables = os.environ if environment is None else environment
    key = variables.get(ENVIRONMENT_KEY, "").strip()
    return AiSetup(settings, key or None, "environment" if key else None)


def save_settings(store: Store, username: str, settings: AiSettings, *, now: datetime, saved_by: str) -> None:
    """Save the user's AI settings (validated already: an `AiSettings` cannot be out of range)."""
    with store.transaction() as transaction:
        write_settings(transaction, username, settings, now=now, updated_by=saved_by)


def save_api_key(store: Store, box: SecretBox, username: str, api_key: str, *, now: datetime) -> None:
    """Store the user's OpenAI API key encrypted; a blank or implausible key is refused (not repeated)."""
    key = api_key.strip()
    if not key or len(key) > MAX_KEY_CHARACTERS or any(character.isspace() for character in key):
        raise SettingsError("the OpenAI API key is empty, too long or contains spaces")
    with store.transaction() as transaction:
        write_key_ciphertext(transaction, username, box.encrypt(key), now=now)


def remove_api_key(store: Store, username: str) -> None:
    """Forget the stored key (an `OPENAI_API_KEY` in the environment still applies)."""
    with store.transaction() as transaction:
        delete_key(transaction, username)
