"""The catalogues: both languages complete and consistent, every key the code asks for present."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from tradebot.core.i18n import LANGUAGES, MissingTextError, catalogue, negotiate, parse_language, text
from tradebot.core.params import BuyConditions, SellConditions, StrategyParams

SOURCE = Path(__file__).resolve().parents[3] / "src" / "tradebot"
LOOKUPS = {"t", "text", "text_or"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Keys whose Korean is the same as the English on purpose (a name, or only placeholders/symbols).
SAME_IN_BOTH = frozenset({"app.page_title", "format.minute", "audit.column.macd"})


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def used_keys() -> dict[str, str]:
    """Every literal key passed to t()/text()/text_or() in the source, with where it is used."""
    found: dict[str, str] = {}
    for path in SOURCE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "i18n import" not in source:  # other modules' `text(...)` are not catalogue lookups
            continue
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = node.args[0]
            if name in LOOKUPS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found[first.value] = f"{path.relative_to(SOURCE)}:{node.lineno}"
    return found


def test_catalogues_every_language_has_the_same_keys() -> None:
    english = set(catalogue("en"))
    for language in LANGUAGES:
        keys = set(catalogue(language))
        assert keys - english == set(), f"{language} has keys English lacks"
        assert english - keys == set(), f"{language} lacks keys"


def test_catalogues_each_key_has_the_same_placeholders_in_every_language() -> None:
    english = catalogue("en")
    for language in LANGUAGES:
        for key, template in catalogue(language).items():
            assert placeholders(template) == placeholders(english[key]), (language, key)


def test_catalogue_korean_texts_are_translated_not_copied() -> None:
    english, korean = catalogue("en"), catalogue("ko")
    untranslated = [
        key
        for key, template in korean.items()
        if key not in SAME_IN_BOTH and not HANGUL.search(template) and template == english[key]
    ]
    assert untranslated == []


def test_source_every_literal_key_exists_in_the_catalogue() -> None:
    missing = {key: where for key, where in used_keys().items() if key not in catalogue("en")}
    assert missing == {}


def test_text_unknown_key_raises_instead_of_showing_it() -> None:
    with pytest.raises(MissingTextError):
        text("no.such.key", "ko")


def test_text_korean_fills_placeholders() -> None:
    assert text("format.krw", "ko", amount="1,234,567") == "1,234,567원"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("fr-FR,ko;q=0.5", "ko"),
        ("en;q=0.3, ko;q=0.8", "ko"),
        ("ko;q=0, en;q=0.1", "en"),
        ("", "en"),
        (None, "en"),
        ("*", "en"),
        ("ko-KR;q=bad", "en"),
    ],
)
def test_negotiate_accept_language_header_picks_preferred_supported_language(
    header: str | None, expected: str
) -> None:
    assert negotiate(header) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ko", "ko"), ("ko-KR", "ko"), ("EN_us", "en"), ("fr", None), ("", None), (3, None)],
)
def test_parse_language_codes_and_locales_map_to_supported_languages(
    value: object, expected: str | None
) -> None:
    assert parse_language(value) == expected


def test_catalogue_every_parameter_and_condition_has_a_name_and_help() -> None:
    english = catalogue("en")
    fields = [f"param.{name}" for name in StrategyParams.model_fields]
    fields += [f"condition.{name}" for name in (*BuyConditions.model_fields, *SellConditions.model_fields)]
    missing = [
        f"{field}.{part}" for field in fields for part in ("name", "help") if f"{field}.{part}" not in english
    ]
    assert missing == []
