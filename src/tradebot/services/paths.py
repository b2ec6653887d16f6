"""Where tradebot keeps its files: the data directory and each user's database in it.

The data directory is `./data` (under the working directory) unless `TRADEBOT_HOME` names another
one. A username becomes part of a file name only after `users.validate_username` accepted it, so no
path is ever built from an unchecked name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tradebot.services.users import validate_username

HOME_VARIABLE = "TRADEBOT_HOME"
DEFAULT_DIRECTORY = "data"


def data_home(environment: Mapping[str, str] | None = None) -> Path:
    """The absolute data directory: `$TRADEBOT_HOME` if set and not blank, else `./data`."""
    variables = os.environ if environment is None else environment
    configured = variables.get(HOME_VARIABLE, "").strip()
    home = Path(configured).expanduser() if configured else Path(DEFAULT_DIRECTORY)
    # absolute now, so a later change of working directory cannot move a user's data
    return home.absolute()


def database_path(home: Path, username: str) -> Path:
    """`{home}/tradebot_{username}.db`; an invalid username raises SettingsError first."""
    return home / f"tradebot_{validate_username(username)}.db"
