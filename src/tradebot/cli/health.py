"""`tradebot health`: the engine's and every user's health; exit 1 when something is stalled.

Reads `{home}/health.json` (written by the engine every cycle) and each user's database directly,
so it reports correctly when the engine is dead. Light to import: the work is imported when it runs.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradebot.cli.arguments import SubParsers, cycle_seconds
from tradebot.core.errors import TradebotError

if TYPE_CHECKING:
    from tradebot.services.desired_state import DesiredState
    from tradebot.services.health_monitor import UserHealth
    from tradebot.services.notifications.delivery_state import DeliveryState

UNHEALTHY = 1


def add_health_command(commands: SubParsers) -> None:
    """Register `health` on the top-level parser."""
    health = commands.add_parser("health", help="engine and per-user health; exit 1 when a loop is stalled")
    health.add_argument("--home", type=Path, help="data directory (default: the usual one)")
    health.add_argument(
        "--max-age-cycles", type=float, default=3.0, help="stale heartbeat, in cycles (default 3)"
    )
    health.add_argument(
        "--cycle-seconds", type=cycle_seconds, default=5.0, help="the engine's cycle (default 5)"
    )
    health.add_argument("--json", action="store_true", help="print the report as JSON")


def health_command(arguments: argparse.Namespace) -> int:
    """`tradebot health`: print the report; 0 when healthy, 1 when a user or the engine is stalled."""
    from dataclasses import asdict

    from tradebot.services.health_monitor import health_problems, read_health, to_jsonable
    from tradebot.services.health_text import format_process, format_user
    from tradebot.services.paths import data_home

    home: Path = arguments.home or data_home()
    now, max_age = datetime.now(UTC), arguments.max_age_cycles * arguments.cycle_seconds
    document = read_health(home)
    users, unreadable = _read_users(home, now, max_age, document)
    users = [_with_engine_safety(user, document, now, max_age) for user in users]
    flagged = [
        f"{user.username}: {note}" for user in users for note in user.safeguards if note.startswith("ALERT")
    ]
    problems = [*health_problems(users, document, now, max_age), *unreadable, *_lost_users(document, users)]
    problems += flagged
    if arguments.json:
        users_data = [to_jsonable(asdict(user)) for user in users]
        print(json.dumps({"engine": document, "users": users_data, "problems": problems}, ensure_ascii=False))
    else:
        for line in [*format_process(document), *(format_user(user) for user in users)]:
            print(line)
        print("\n".join(f"PROBLEM: {problem}" for problem in problems) if problems else "healthy")
    return UNHEALTHY if problems else 0


def _read_users(
    home: Path, now: datetime, max_age: float, document: dict[str, Any] | None
) -> tuple[list[UserHealth], list[str]]:
    """Every user's health from their database, and a problem for each database not read.

    What guards each open position only the engine knows: it is taken from a fresh health file.
    """
    from tradebot.engine.engine_manager import discover_users
    from tradebot.services.health_monitor import engine_guarding, read_user_health, unreadable_user

    errors, guarding = _engine_errors(document), engine_guarding(document, now, max_age)
    desired, delivery = _engine_desired(document), _engine_delivery(document, now, max_age)
    users, problems = [], []
    for name in discover_users(home):
        try:
            user = read_user_health(home, name, now, max_age, errors.get(name), guarding.get(name))
        except TradebotError as error:  # the engine's report knows what the user asked for
            users.append(unreadable_user(name, error, desired.get(name)))
            problems.append(f"{name}: database not read: {error}")
            continue
        users.append(user if name not in delivery else replace(user, notifications=delivery[name]))
    return users, problems


def _engine_delivery(
    document: dict[str, Any] | None, now: datetime, max_age: float
) -> dict[str, DeliveryState]:
    """Per user, the notifications block of a fresh `health.json` (the engine's delivery thread read it
    at its last round); nothing when the file is stale, so the database's own reading is shown."""
    from tradebot.services.health_monitor import health_file_age
    from tradebot.services.notifications.delivery_state import delivery_from_document

    age = health_file_age(document, now)
    if document is None or age is None or age > max_age:
        return {}
    found = {}
    for user in document.get("users") or []:
        block = user.get("notifications") if isinstance(user, dict) else None
        state = delivery_from_document(block) if isinstance(block, dict) else None
        if state is not None:
            found[str(user["username"])] = state
    return found


def _with_engine_safety(
    user: UserHealth, document: dict[str, Any] | None, now: datetime, max_age: float
) -> UserHealth:
    """`user` with the Upbit safeguard notes and key expiry a fresh engine report holds (only it knows)."""
    from dataclasses import replace

    from tradebot.services.health_monitor import health_file_age

    age = health_file_age(document, now)
    if document is None or age is None or age > max_age:
        return user
    for entry in document.get("users") or []:
        if isinstance(entry, dict) and entry.get("username") == user.username:
            notes = [str(note) for note in entry.get("safeguards") or []]
            expires = entry.get("key_expires_at")
            moment = datetime.fromisoformat(expires) if isinstance(expires, str) else None
            return replace(user, safeguards=notes, key_expires_at=moment)
    return user


def _engine_desired(document: dict[str, Any] | None) -> dict[str, DesiredState]:
    """Running or not, and in which mode, per user as the engine last reported them."""
    from tradebot.services.desired_state import DesiredState

    users = [] if document is None else document.get("users") or []
    return {
        str(user["username"]): DesiredState(running=user["desired_running"], mode=user["mode"])
        for user in users
        if isinstance(user, dict)
        and isinstance(user.get("desired_running"), bool)
        and user.get("mode") in ("TEST", "LIVE")
    }


def _lost_users(document: dict[str, Any] | None, users: list[UserHealth]) -> list[str]:
    """Users the engine reports as unreadable whose database file is gone from the data directory."""
    listed = {user.username for user in users}
    entries = [] if document is None else document.get("users") or []
    lost = [entry for entry in entries if isinstance(entry, dict) and entry.get("username") not in listed]
    return [
        f"{entry['username']}: {entry.get('last_error')}"
        for entry in lost
        if entry.get("state") == "unreadable"
    ]


def _engine_errors(document: dict[str, Any] | None) -> dict[str, int]:
    """Consecutive errors per user, as the engine last reported them."""
    users = [] if document is None else document.get("users") or []
    return {
        str(user["username"]): int(user["consecutive_errors"])
        for user in users
        if isinstance(user, dict) and isinstance(user.get("consecutive_errors"), int)
    }
