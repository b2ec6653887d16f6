"""Noticing when a user's params or conditions file changes, and reading the new values.

A change is applied by the loop at the next closed candle (TRADING_RULES.md, LESSONS.md #5). A file
that fails validation leaves the settings in force unchanged and is reported, never half-applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tradebot.core.errors import SettingsError
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.settings_store import load_conditions, load_params

Stamp = tuple[int, int] | None  # (mtime in ns, size); None when the file is missing


@dataclass(frozen=True, slots=True)
class Settings:
    """Params and conditions read together."""

    params: StrategyParams
    conditions: Conditions


class SettingsWatcher:
    """Reads both files at start and again whenever either changes on disk."""

    def __init__(self, params_file: Path, conditions_file: Path) -> None:
        self._params_file = params_file
        self._conditions_file = conditions_file
        self._stamps: tuple[Stamp, Stamp] = (None, None)
        self.last_error: str | None = None

    def load(self) -> Settings:
        """Read both files now (SettingsError if either is invalid)."""
        self._stamps = (_stamp(self._params_file), _stamp(self._conditions_file))
        return Settings(load_params(self._params_file), load_conditions(self._conditions_file))

    def changed(self) -> Settings | None:
        """New settings if a file changed since the last read and both are valid, else None."""
        stamps = (_stamp(self._params_file), _stamp(self._conditions_file))
        if stamps == self._stamps:
            return None
        try:
            settings = self.load()
        except SettingsError as error:
            self._stamps = stamps  # report once per change, not every cycle
            self.last_error = str(error)
            return None
        self.last_error = None
        return settings


def _stamp(path: Path) -> Stamp:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_mtime_ns, status.st_size)
