"""The dashboard's and messages' words in every language tradebot speaks: one catalogue per language.

Each language is one TOML file next to this module (`en.toml`, `ko.toml`): nested tables whose
dotted paths are the keys (`[login]` + `title = "…"` is `login.title`), values are `str.format`
templates (`"{count} trades"`). Stored data never holds these texts: the database keeps
language-neutral codes (reasons, rules, condition names) and the screens look their words up here.
TOML because it is read by the standard library (`tomllib`, no compile step as gettext's `.mo`
files need), a translator edits one plain file per language, and the test suite checks that both
files have exactly the same keys and placeholders.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal, cast

Language = Literal["en", "ko"]
LANGUAGES: tuple[Language, ...] = ("en", "ko")
DEFAULT_LANGUAGE: Language = "en"
LANGUAGE_NAMES: Mapping[Language, str] = {"en": "English", "ko": "한국어"}
CATALOGUE_DIRECTORY = Path(__file__).resolve().parent
# One entry of an Accept-Language header: a tag and an optional quality (`ko-KR;q=0.9`).
ACCEPT_ENTRY = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")


class MissingTextError(KeyError):
    """A key that no catalogue holds: a programming error the catalogue test catches."""


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(cast(Mapping[str, object], value), f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise TypeError(f"catalogue entry {key!r} must be text, not {type(value).__name__}")
    return flat


@cache
def catalogue(language: Language) -> Mapping[str, str]:
    """Every key → template of `language` (read once per process)."""
    path = CATALOGUE_DIRECTORY / f"{language}.toml"
    with path.open("rb") as handle:
        return _flatten(tomllib.load(handle))


def has_text(key: str) -> bool:
    """Whether the default language's catalogue holds `key` (for keys built from stored codes)."""
    return key in catalogue(DEFAULT_LANGUAGE)


def text(key: str, language: Language = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """The words for `key` in `language`, with `values` filled in.

    A key missing from `language` falls back to English (the catalogue test keeps both complete);
    a key missing everywhere raises MissingTextError rather than showing a raw key to a person.
    """
    template = catalogue(language).get(key)
    if template is None:
        template = catalogue(DEFAULT_LANGUAGE).get(key)
    if template is None:
        raise MissingTextError(key)
    return template.format(**values) if values else template


def text_or(key: str, fallback: str, language: Language = DEFAULT_LANGUAGE, /, **values: object) -> str:
    """`text(key)` when the catalogue knows `key`, else `fallback` (a stored code shown as it is)."""
    return text(key, language, **values) if has_text(key) else fallback


def parse_language(value: object) -> Language | None:
    """`value` as a supported language code (`"ko"`, `"ko-KR"`, `"EN_us"` …), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return next((language for language in LANGUAGES if language == primary), None)


def negotiate(accept_language: str | None) -> Language:
    """The supported language a browser prefers most (`Accept-Language`), else English.

    `ko-KR,ko;q=0.9,en-US;q=0.8` is Korean; `fr-FR,en;q=0.5` is English; a `q=0` entry is refused.
    """
    best: tuple[float, int, Language] | None = None
    for position, entry in enumerate((accept_language or "").split(",")):
        match = ACCEPT_ENTRY.fullmatch(entry)
        language = parse_language(match.group(1)) if match else None
        if match is None or language is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        candidate = (quality, -position, language)
        if quality > 0 and (best is None or candidate[:2] > best[:2]):
            best = candidate
    return DEFAULT_LANGUAGE if best is None else best[2]
