"""`tradebot backup` and `tradebot restore`: consistent copies of users' databases, and safe restores.

`backup` runs while the engine trades (SQLite's online backup API). `restore` never replaces a
file an engine has open: it takes the data directory's engine lock, so no engine can start during
the restore, and the restored user starts with the next `tradebot engine`. While an engine runs,
it restores only a user whose database file is gone: the engine let go of that file when it lost
it, and opens the restored one within one cycle. Otherwise it refuses and says to stop the engine
first (a stop command would close the loop but not the engine's connection to the file).
Light to import: the work is imported when a command runs.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from tradebot.cli.arguments import SubParsers
from tradebot.core.errors import TradebotError
from tradebot.services.paths import data_home, database_path


def add_backup_commands(commands: SubParsers) -> None:
    """Register `backup` and `restore` on the top-level parser."""
    backup = commands.add_parser("backup", help="copy users' databases and settings (safe while trading)")
    who = backup.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="username")
    who.add_argument("--all", action="store_true", help="every user of the data directory")
    backup.add_argument("--to", type=Path, required=True, help="directory to write into (made 0700)")
    restore = commands.add_parser("restore", help="put a backup back as a user's database (checked first)")
    restore.add_argument("--user", required=True, help="username")
    restore.add_argument("--from", dest="source", type=Path, required=True, help="the backup's .db file")


def backup_command(arguments: argparse.Namespace) -> int:
    """`tradebot backup`: one line per file written."""
    from tradebot.engine.engine_manager import discover_users
    from tradebot.services.backup import backup_user

    home = data_home()
    users = discover_users(home) if arguments.all else [arguments.user]
    if not users:
        raise TradebotError(f"no users in {home}")
    for username in users:
        for path in backup_user(home, username, arguments.to):
            print(f"{username}: {path}")
    return 0


def restore_command(arguments: argparse.Namespace) -> int:
    """`tradebot restore`: refuse while an engine has the file open, else restore and say what is next."""
    from tradebot.engine.lock_manager import EngineLock, EngineLockedError
    from tradebot.services.backup import restore_user

    home, username = data_home(), arguments.user
    with ExitStack() as stack:
        try:
            stack.enter_context(EngineLock(home))  # held until the restore is done
            engine_running = False
        except EngineLockedError as error:
            if database_path(home, username).exists():
                raise TradebotError(
                    f"{error}, and it has {username}'s database open: stop the engine, then restore "
                    "(replacing a file under an open connection is what corrupts it)"
                ) from None
            engine_running = True  # it let go of the lost file; it opens the restored one
        result = restore_user(home, username, arguments.source, datetime.now(UTC))
    for path in result.set_aside:
        print(f"set aside: {path}")
    for path in result.settings:
        print(f"settings restored: {path}")
    desired = result.desired
    wanted = f"running in {desired.mode}" if desired.running else "stopped"
    print(f"restored {username} from {arguments.source} (integrity ok); its recorded state: {wanted}")
    if engine_running:
        print(f"the engine opens {username}'s restored database on its next cycle")
    else:
        print(f"{username} starts with the next `tradebot engine`")
    return 0
