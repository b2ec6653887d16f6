"""The user's language preference: stored with the user, unknown values read as "not chosen"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradebot.services.preferences import save_language, stored_language
from tradebot.services.storage import Store

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_preferences_language_saved_is_read_back_and_replaced(tmp_path: Path) -> None:
    with Store.open(tmp_path / "tradebot_alice.db") as store:
        assert stored_language(store) is None
        save_language(store, "ko", NOW)
        assert stored_language(store) == "ko"
        save_language(store, "en", NOW)
        assert stored_language(store) == "en"


def test_preferences_unsupported_language_is_refused(tmp_path: Path) -> None:
    with Store.open(tmp_path / "tradebot_alice.db") as store, pytest.raises(ValueError, match="unsupported"):
        save_language(store, "fr", NOW)  # type: ignore[arg-type]


def test_preferences_unknown_stored_value_reads_as_not_chosen(tmp_path: Path) -> None:
    with Store.open(tmp_path / "tradebot_alice.db") as store:
        with store.transaction() as transaction:
            transaction.execute(
                "INSERT INTO user_preferences (name, value, updated_at) VALUES ('language', 'xx', 0)"
            )
        assert stored_language(store) is None
