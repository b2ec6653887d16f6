"""The user's own preferences, stored with the user in their database (today: the language).

Values are language-neutral codes; an unknown or missing value reads as "not chosen", so the
dashboard falls back to the browser's language.
"""

from __future__ import annotations

from datetime import datetime

from tradebot.core.i18n import Language, parse_language
from tradebot.services.storage import Store
from tradebot.services.storage.codecs import encode_time
from tradebot.services.storage.errors import StorageError
from tradebot.services.storage.reader import Reader

LANGUAGE = "language"


def stored_language(reader: Reader) -> Language | None:
    """The language the user chose on Account & Mode, or None if they never chose one."""
    try:
        rows = reader.query("SELECT value FROM user_preferences WHERE name = ?", (LANGUAGE,))
    except StorageError:  # a file opened read-only before its upgrade has no preferences yet
        return None
    return parse_language(rows[0]["value"]) if rows else None


def save_language(store: Store, language: Language, now: datetime) -> None:
    """Remember `language` for this user (it takes effect at the next page run)."""
    if parse_language(language) != language:
        raise ValueError(f"unsupported language {language!r}")
    with store.transaction() as transaction:
        transaction.execute(
            "INSERT INTO user_preferences (name, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (LANGUAGE, language, encode_time(now)),
        )
