"""AI review settings, prices and set-up: off by default, key encrypted or from OPENAI_API_KEY."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from tests.fakes.ai_support import CREATED, OPENAI_KEY, USER, new_user, runtime
from tradebot.core.errors import SettingsError
from tradebot.services.ai_review.config import (
    PRICES,
    UNKNOWN_MODEL_PRICE,
    AiSettings,
    ModelPrice,
    model_price,
)
from tradebot.services.ai_review.setup import (
    ENVIRONMENT_KEY,
    load_setup,
    remove_api_key,
    save_api_key,
    save_settings,
)
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with new_user(tmp_path) as opened:
        yield opened


def test_settings_defaults_off_with_every_field_described() -> None:
    settings = AiSettings()
    assert settings.enabled is False
    assert settings.advisor_enabled is False
    assert settings.base_url is None
    assert settings.endpoint == "https://api.openai.com/v1"
    assert isinstance(settings.monthly_cap_usd, Decimal)
    assert all(field.description for field in AiSettings.model_fields.values())


@pytest.mark.parametrize(
    "values",
    [
        {"monthly_cap_usd": "-1"},
        {"monthly_cap_usd": "10001"},
        {"timeout_seconds": 0},
        {"timeout_seconds": float("inf")},
        {"advisor_timeout_seconds": 31},
        {"max_output_tokens": 5},
        {"model": ""},
        {"model": "gpt 4o"},
        {"base_url": "ftp://example.com/v1"},
        {"base_url": "https://user:password@example.com/v1"},
        {"input_price_per_million_usd": "-0.1", "output_price_per_million_usd": "1"},
        {"unknown": 1},
    ],
)
def test_settings_out_of_range_value_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AiSettings.model_validate(values)


def test_settings_one_price_without_the_other_refused() -> None:
    with pytest.raises(ValidationError, match="both input and output prices"):
        AiSettings(input_price_per_million_usd=Decimal(1))


def test_settings_frozen_and_base_url_normalised() -> None:
    settings = AiSettings(base_url=" http://127.0.0.1:8000/v1/ ")
    assert settings.base_url == "http://127.0.0.1:8000/v1"
    with pytest.raises(ValidationError):
        settings.enabled = True  # type: ignore[misc]


def test_model_price_dated_snapshot_priced_as_its_model() -> None:
    assert model_price("gpt-4o-mini-2024-07-18", PRICES) == PRICES["gpt-4o-mini"]
    assert model_price("gpt-4o", PRICES) == PRICES["gpt-4o"]


@pytest.mark.parametrize("model", ["gpt-5-pro", "llama3", "gpt-4o-mini-experimental"])
def test_model_price_unknown_model_charged_conservative_default(model: str) -> None:
    price = model_price(model, PRICES)
    assert price == UNKNOWN_MODEL_PRICE
    assert all(price.input_per_million >= listed.input_per_million for listed in PRICES.values())
    assert all(price.output_per_million >= listed.output_per_million for listed in PRICES.values())


def test_settings_own_prices_replace_the_table() -> None:
    settings = AiSettings(
        model="gpt-4o", input_price_per_million_usd=Decimal(0), output_price_per_million_usd=Decimal("0.5")
    )
    assert settings.price() == ModelPrice(Decimal(0), Decimal("0.5"))
    assert settings.price().cost(1000, 2_000_000) == Decimal(1)


def test_setup_without_key_disabled_and_says_how_to_enable(store: Store) -> None:
    ai = runtime()
    availability = load_setup(store, USER, ai.box, {}).availability()
    assert availability.state == "disabled"
    assert "OPENAI_API_KEY" in availability.message
    assert "enabled" in availability.message


def test_setup_key_but_switch_off_disabled(store: Store) -> None:
    ai = runtime()
    save_api_key(store, ai.box, USER, OPENAI_KEY, now=CREATED)
    availability = load_setup(store, USER, ai.box, {}).availability()
    assert not availability.enabled
    assert "switch 'enabled' on" in availability.message


def test_setup_environment_key_used_when_none_stored(store: Store) -> None:
    ai = runtime()
    save_settings(store, USER, AiSettings(enabled=True), now=CREATED, saved_by=USER)
    setup = load_setup(store, USER, ai.box, {ENVIRONMENT_KEY: " sk-from-environment "})
    assert setup.api_key == "sk-from-environment"
    assert setup.key_source == "environment"
    assert setup.availability().state == "enabled"


def test_setup_stored_key_wins_over_environment(store: Store) -> None:
    ai = runtime()
    save_api_key(store, ai.box, USER, OPENAI_KEY, now=CREATED)
    setup = load_setup(store, USER, ai.box, {ENVIRONMENT_KEY: "sk-from-environment"})
    assert (setup.api_key, setup.key_source) == (OPENAI_KEY, "stored")
    remove_api_key(store, USER)
    assert load_setup(store, USER, ai.box, {ENVIRONMENT_KEY: "sk-env"}).key_source == "environment"


def test_stored_key_encrypted_never_in_clear_on_disk(store: Store) -> None:
    ai = runtime()
    save_api_key(store, ai.box, USER, OPENAI_KEY, now=CREATED)
    store.close()
    files = [path for path in store.path.parent.iterdir() if path.name.startswith(store.path.name)]
    assert all(OPENAI_KEY.encode() not in path.read_bytes() for path in files)


def test_stored_key_wrong_encryption_key_disabled_with_reason(store: Store) -> None:
    save_api_key(store, runtime().box, USER, OPENAI_KEY, now=CREATED)
    setup = load_setup(store, USER, SecretBox(Fernet.generate_key()), {ENVIRONMENT_KEY: "sk-env"})
    assert setup.api_key is None
    assert "cannot be decrypted" in setup.availability().message


@pytest.mark.parametrize("key", ["", "   ", "sk with spaces", "x" * 600])
def test_save_api_key_implausible_refused_without_repeating_it(store: Store, key: str) -> None:
    with pytest.raises(SettingsError) as error:
        save_api_key(store, runtime().box, USER, key, now=CREATED)
    assert key.strip() == "" or key not in str(error.value)


def test_setup_repr_hides_key(store: Store) -> None:
    ai = runtime()
    save_api_key(store, ai.box, USER, OPENAI_KEY, now=CREATED)
    assert OPENAI_KEY not in repr(load_setup(store, USER, ai.box, {}))


def test_settings_saved_read_back_equal(store: Store) -> None:
    settings = AiSettings(
        enabled=True, model="gpt-4.1-mini", monthly_cap_usd=Decimal("12.5"), advisor_enabled=True
    )
    save_settings(store, USER, settings, now=CREATED, saved_by=USER)
    assert load_setup(store, USER, runtime().box, {}).settings == settings
