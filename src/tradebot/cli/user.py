"""`tradebot user add|password|set-keys`: create users, change passwords, store LIVE keys.

Light to import: the storage code is imported when the command runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from decimal import Decimal

from tradebot.cli.arguments import SubParsers, krw_amount
from tradebot.core.errors import SettingsError
from tradebot.services.paths import data_home


def add_user_command(commands: SubParsers) -> None:
    """Register `user` and its actions on the top-level parser."""
    user = commands.add_parser("user", help="create users and store their Upbit keys")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create a user (password read from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--cash", type=krw_amount, default=Decimal(1_000_000), help="TEST starting KRW")
    add.add_argument("--no-password", action="store_true", help="no dashboard login (engine-only user)")
    password = actions.add_parser(
        "password", help="set a new dashboard password (read from the terminal or stdin); ends every login"
    )
    password.add_argument("name")
    keys = actions.add_parser("set-keys", help="store LIVE keys, encrypted (read from the terminal or stdin)")
    keys.add_argument("name")


def user_command(arguments: argparse.Namespace) -> int:
    """`tradebot user add|password|set-keys`."""
    from tradebot.services.user_admin import UpbitKeys, change_password, create_user, save_keys

    home, now = data_home(), datetime.now(UTC)
    if arguments.user_command == "add":
        password = None if arguments.no_password else _secret_input("password: ")
        path = create_user(home, arguments.name, password, now, arguments.cash)
        print(f"created {arguments.name} ({path}), TEST capital {arguments.cash:,} KRW")
        return 0
    if arguments.user_command == "password":
        ended = change_password(home, arguments.name, _secret_input("new password: "))
        print(f"password of {arguments.name} changed; {ended} dashboard session(s) ended")
        return 0
    keys = UpbitKeys(_secret_input("Upbit access key: "), _secret_input("Upbit secret key: "))
    save_keys(home, arguments.name, keys, now)
    print(f"stored encrypted keys for {arguments.name}")
    return 0


def _secret_input(prompt: str) -> str:
    """From the terminal without echo, or one line of stdin (for scripts)."""
    value = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not value:
        raise SettingsError(f"empty {prompt.rstrip(': ')}")
    return value
