"""Reading and writing the params and conditions JSON files.

Loading is all-or-nothing: a malformed file, an unknown or duplicated key or a value out of range
raises a `SettingsError` naming the file and the field, and nothing is changed. A settings file
that is a symbolic link is refused, to load and to save: following it let a save copy whatever it
pointed at (`/etc/passwd`) into the `.bak`. Saving writes a temporary file (0600) in the same
directory, flushes it to disk and renames it over the old one (atomic on POSIX), after keeping the
previous version as `<name>.bak`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from tradebot.core.errors import SettingsError
from tradebot.core.params import KEYS_ADDED_LATER, Conditions, StrategyParams
from tradebot.services.file_modes import write_file_atomically

Model = TypeVar("Model", bound=BaseModel)
BACKUP_SUFFIX = ".bak"


def load_params(path: Path) -> StrategyParams:
    """Read and validate a `{user}_latest_params.json` file."""
    return _load(path, StrategyParams)


def load_conditions(path: Path) -> Conditions:
    """Read and validate a `{user}_buy_sell_conditions.json` file."""
    return _load(path, Conditions)


def save_params(path: Path, params: StrategyParams) -> None:
    """Atomically write `params`, keeping the previous file as `<name>.bak`."""
    _save(path, params)


def save_conditions(path: Path, conditions: Conditions) -> None:
    """Atomically write `conditions`, keeping the previous file as `<name>.bak`."""
    _save(path, conditions)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field: `slow_period: Input should be ...; market: ...`."""
    parts = []
    for item in error.errors():
        field = ".".join(_printable(str(part)) for part in item["loc"]) or "settings"
        message = _printable(str(item["msg"]).removeprefix("Value error, "))
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def _printable(text: str) -> str:
    # A key or value from the file may hold a newline; the message must stay one line.
    return text if text.isprintable() else repr(text)


def _refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise SettingsError(
            f"{path}: is a symbolic link; settings files must be regular files "
            "(copy the file it points to in its place)"
        )


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json's object hook: a key written twice is refused (json would keep the last silently)."""
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen[key] = value
    return seen


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice."""


def _load(path: Path, model: type[Model]) -> Model:
    _refuse_symlink(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path}: cannot read ({error})") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except DuplicateKeyError as error:
        raise SettingsError(f"{path}: key {error.args[0]!r} appears more than once") from None
    except json.JSONDecodeError as error:
        raise SettingsError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise SettingsError(f"{path}: not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a JSON object of settings")
    missing = _missing_keys(data, model)
    if missing:
        # Every key must be written out: a silently defaulted value is a value nobody chose.
        raise SettingsError(f"{path}: missing keys: {', '.join(missing)}")
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise SettingsError(f"{path}: {describe_validation_error(error)}") from None


def _missing_keys(data: dict[str, object], model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        nested, value = field.annotation, data.get(name)
        if name not in data:
            if prefix + name not in KEYS_ADDED_LATER:  # newer keys default to off (core.params)
                missing.append(prefix + name)
        elif isinstance(nested, type) and issubclass(nested, BaseModel) and isinstance(value, dict):
            missing.extend(_missing_keys(value, nested, f"{prefix}{name}."))
    return missing


def _save(path: Path, settings: BaseModel) -> None:
    text = json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_symlink(path)
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    _refuse_symlink(backup)  # replaced by the rename anyway, but say so rather than hide it
    if path.exists():
        write_file_atomically(backup, path.read_bytes())
    write_file_atomically(path, text)
