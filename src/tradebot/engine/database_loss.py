"""A user's database file deleted or replaced under the engine: the runner parks the user for good.

SQLite would go on writing into a deleted file through the open connection, and every order record
would be lost with it. Kept apart from `engine_runner` so the runner module stays about supervising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tradebot.services.storage import Store
from tradebot.services.storage.files import RESTORE_HINT, journal_identities

if TYPE_CHECKING:
    from tradebot.engine.engine_runner import UserRunner


def database_gone(runner: UserRunner) -> bool:
    """True, with the user parked for good, once the database file was deleted or replaced.

    The loop is closed and no new empty database is made in its place.
    """
    if runner.database_lost is not None:
        return True
    problem = runner.store.file_problem()
    if problem is None:
        return False
    runner.close_loop()
    # The -wal/-shm still there belong to the lost file: never to be replayed onto another one.
    runner.lost_journal = journal_identities(runner.store.path)
    restore = RESTORE_HINT.format(username=runner.username)
    runner.database_lost = runner.failed_reason = (
        f"ALERT: {problem}: trading stopped for {runner.username}, nothing is written to a new "
        f"empty database ({recorded_positions(runner.store)}); restore it with `{restore}` (it sets "
        "the old -wal/-shm aside and checks the file) or recreate the user, then start it again"
    )
    runner.say(runner.database_lost)
    return True


def recorded_positions(store: Store) -> str:
    """The open positions the (lost) file recorded, for the alert."""
    try:  # the open connection still reads the deleted file
        held = [*store.positions("TEST"), *store.positions("LIVE")]
    except Exception:  # unknown: the alert says so instead
        return "its open positions are unknown"
    if not held:
        return "it recorded no open position"
    listed = ", ".join(f"{item.mode} {item.volume} {item.market}" for item in held)
    return f"open positions it recorded, no longer watched: {listed}"
