"""`tradebot notify set|show|test|clear --user NAME`: a user's Telegram and webhook notifications.

Tokens and webhook URLs are secrets: stored encrypted, shown masked, never printed. On the command
line a secret given as `-` is read from the terminal without echo (or one line of stdin), so it
stays out of the shell history and the process list. Light to import: the storage code is imported
when the command runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tradebot.cli.arguments import SubParsers
from tradebot.core.errors import SettingsError
from tradebot.services.paths import data_home, database_path

if TYPE_CHECKING:  # imported when the command runs, to keep `tradebot --help` light
    from tradebot.services.secrets import SecretBox
    from tradebot.services.storage import Store

EVENT_CHOICES = ("fill", "order_refused", "alert", "engine", "daily_summary", "test", "protection")
LEVEL_CHOICES = ("on", "silent", "off")
CHANNEL_CHOICES = ("telegram", "webhook", "all")
READ_SECRET = "-"  # noqa: S105 - the "read it from the terminal" marker, not a secret


def add_notify_command(commands: SubParsers) -> None:
    """Register `notify` and its actions on the top-level parser."""
    notify = commands.add_parser(
        "notify",
        help="Telegram and webhook notifications of one user",
        description="Set, show, test or remove a user's Telegram and webhook notifications. "
        "`notify clear --user NAME telegram|webhook|all` deletes the stored secret (bot token, "
        "webhook URL) of that channel and drops its waiting messages; the other channel is kept.",
    )
    actions = notify.add_subparsers(dest="notify_command", required=True)
    change = actions.add_parser("set", help="change the notification settings (secrets stored encrypted)")
    change.add_argument("--user", required=True, help="username")
    change.add_argument("--telegram-token", help="bot token from @BotFather; '-' reads it without echo")
    change.add_argument("--telegram-chat-id", help="chat that receives messages, e.g. 123456789")
    change.add_argument("--telegram-api-url", help="Bot API server (default: Telegram's own)")
    change.add_argument("--webhook-url", help="Slack/Discord/JSON webhook URL; '-' reads it without echo")
    change.add_argument("--webhook-format", choices=("slack", "discord", "json"), help="webhook body format")
    change.add_argument(
        "--event", action="append", default=[], type=_event, metavar="KIND=on|silent|off",
        help=f"per kind of event ({', '.join(EVENT_CHOICES)}); repeat for several",
    )  # fmt: skip
    change.add_argument("--daily-summary", metavar="HH:MM", help="daily summary time in KST, or 'off'")
    for name, text in (("show", "show the settings, secrets masked"), ("test", "queue a test message")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--user", required=True, help="username")
    clear = actions.add_parser(
        "clear", help="remove a channel: delete its stored secret and drop its waiting messages"
    )
    clear.add_argument("--user", required=True, help="username")
    clear.add_argument("channel", choices=CHANNEL_CHOICES, help="which channel to remove")


def _event(text: str) -> tuple[str, str]:
    kind, _, level = text.partition("=")
    if kind not in EVENT_CHOICES or level not in LEVEL_CHOICES:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not KIND=LEVEL: KIND one of {', '.join(EVENT_CHOICES)}, LEVEL on, silent or off"
        )
    return kind, level


def notify_command(arguments: argparse.Namespace) -> int:
    """`tradebot notify set|show|test`."""
    from tradebot.services.notifications.setup import describe
    from tradebot.services.secrets import SecretBox
    from tradebot.services.storage import open_user_store

    home = data_home()
    if not database_path(home, arguments.user).exists():  # opening would create one
        raise SettingsError(f"no user {arguments.user}; create it with: tradebot user add NAME")
    box = SecretBox.for_home(home)
    with open_user_store(home, arguments.user, create=False) as store:
        if arguments.notify_command == "set":
            _set(store, box, arguments)
        elif arguments.notify_command == "test":
            return _test(store, arguments.user)
        elif arguments.notify_command == "clear":
            _clear(store, arguments.user, arguments.channel)
        for line in describe(store, box):
            print(f"{arguments.user}: {line}")
    return 0


def _set(store: Store, box: SecretBox, arguments: argparse.Namespace) -> None:
    from tradebot.services.notifications.setup import NotifyChanges, save_changes

    changes = NotifyChanges(
        telegram_token=_secret(arguments.telegram_token, "Telegram bot token: "),
        webhook_url=_secret(arguments.webhook_url, "webhook URL: "),
        telegram_chat_id=arguments.telegram_chat_id, telegram_api_url=arguments.telegram_api_url,
        webhook_format=arguments.webhook_format, events=dict(arguments.event),
        daily_summary=arguments.daily_summary,
    )  # fmt: skip
    save_changes(store, box, changes, now=datetime.now(UTC), updated_by=_requester())
    print(f"{arguments.user}: notification settings saved")


def _clear(store: Store, username: str, which: str) -> None:
    from tradebot.services.notifications.setup import channels_named, remove_channels

    for removal in remove_channels(store, channels_named(which), now=datetime.now(UTC)):
        deleted = "secret deleted" if removal.secret_deleted else "no secret was stored"
        print(
            f"{username}: {removal.channel} removed ({deleted}; {removal.dropped} waiting message(s) dropped)"
        )


def _test(store: Store, username: str) -> int:
    from tradebot.services.notifications.setup import engine_seen, queue_test

    now = datetime.now(UTC)
    message_id = queue_test(store, username, now)
    if message_id is None:
        print(
            f"{username}: no test message queued: no channel is configured or the `test` event is off "
            "(tradebot notify set --user NAME ...)"
        )
        return 1
    if engine_seen(store, now):
        print(f"{username}: test message {message_id} queued; the running engine delivers it within seconds")
    else:
        print(
            f"{username}: test message {message_id} queued; the engine is not running: it will be delivered "
            "when `tradebot engine` runs"
        )
    return 0


def _secret(value: str | None, prompt: str) -> str | None:
    """The secret as given, or read without echo when given as '-'; None when not given."""
    if value != READ_SECRET:
        return value
    secret = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not secret:
        raise SettingsError(f"empty {prompt.rstrip(': ')}")
    return secret


def _requester() -> str:
    try:
        return getpass.getuser() or "cli"
    except (KeyError, OSError):
        return "cli"
