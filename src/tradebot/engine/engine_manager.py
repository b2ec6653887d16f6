"""`tradebot engine`: one process running the loop of every user who is switched on.

Users are the `tradebot_*.db` files of the data directory (each name validated). Each user gets a
`UserRunner` in its own thread, so one user's exception, bad settings or exchange trouble never
touches another user's loop. The manager looks for new users every cycle, restarts a runner
thread that died (a bug, not a loop crash: those the runner handles itself), and on stop lets
every runner finish its cycle and record its state.

Every cycle the manager also runs the watchdog and writes `{home}/health.json`. The watchdog never
closes anything itself (a loop's SQLite connections belong to its runner's thread): it asks a loop
that finished no cycle for `stall_limit` seconds to stop, and the runner's thread closes and
restarts it (`stall_watch`). A runner thread still stuck `abandon_limit` seconds later is given
up: its lease is revoked so it never writes again, and a new runner thread takes the user over.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from tradebot.core.clock import Clock, wait_until
from tradebot.core.errors import TradebotError
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.market_list import MarketList
from tradebot.engine.notifier import NotifierThread
from tradebot.engine.runner_types import Loop, LoopFactory, Report, RunnerSettings
from tradebot.engine.shared_feed import Quotations
from tradebot.engine.telegram_poller import TelegramPollerThread, start_telegram_poller
from tradebot.engine.user_notifications import notify_engine_event, start_user_notifications
from tradebot.exchange.upbit import UpbitSession
from tradebot.exchange.upbit.rate_limit import GroupCounts, shared_rate_limits
from tradebot.services.health_monitor import (
    HealthReport,
    ProcessLike,
    UserHealth,
    assess_user,
    process_health,
    read_user_health,
    unreadable_user,
    write_health,
)
from tradebot.services.paths import database_path
from tradebot.services.storage import StorageError, open_user_store
from tradebot.services.storage.files import RESTORE_HINT, quick_check, stale_journal
from tradebot.services.users import validate_username

DATABASE_PREFIX, DATABASE_SUFFIX = "tradebot_", ".db"
JOIN_SECONDS = 30.0


def engine_id() -> str:
    """`host:pid`, recorded on the commands this engine claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def discover_users(home: Path) -> list[str]:
    """Valid usernames of the `tradebot_{name}.db` files in `home`, sorted."""
    names = []
    for path in home.glob(f"{DATABASE_PREFIX}*{DATABASE_SUFFIX}"):
        name = path.name[len(DATABASE_PREFIX) : -len(DATABASE_SUFFIX)]
        try:
            names.append(validate_username(name))
        except TradebotError:
            continue
    return sorted(names)


def shared_rate_counts() -> dict[str, GroupCounts]:
    """Requests and throttling per rate group of this process's shared Upbit rate limiters."""
    return shared_rate_limits().counters.snapshot()


def live_loop_factory(
    clock: Clock,
    session: UpbitSession | None = None,
    quotations: Quotations | None = None,
    markets: MarketList | None = None,
) -> LoopFactory:
    """Build real `LiveLoop`s on `clock` sharing one HTTP session, one market-data cache and one
    Upbit market list (the safeguards)."""

    def build(request: RunRequest, resources: ExitStack) -> Loop:
        return build_loop(request, clock, resources, session=session, quotations=quotations, markets=markets)

    return build


def _with_safety(user: UserHealth, runner: UserRunner) -> UserHealth:
    """The user's health with its markets' Upbit flags, its positions' ALERTs and its key's expiry."""
    safety = runner.safety
    alert = "; ".join(part for part in (user.alert, safety.alert) if part) or None
    return replace(user, alert=alert, safeguards=list(safety.notes), key_expires_at=safety.key_expires_at)


@dataclass
class EngineManager:
    """Runner threads for every user of `settings.home`; `run()` until `stop` is set."""

    settings: RunnerSettings
    clock: Clock
    factory: LoopFactory
    report: Report
    stop: threading.Event = field(default_factory=threading.Event)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    runners: dict[str, UserRunner] = field(default_factory=dict)
    notifiers: dict[str, NotifierThread] = field(default_factory=dict)  # each user's outbox delivery
    pollers: dict[str, TelegramPollerThread] = field(default_factory=dict)  # each user's chat commands
    process: ProcessLike | None = None  # a psutil.Process for the health file's process figures
    rate_counters: Callable[[], dict[str, GroupCounts]] = field(default=shared_rate_counts)
    markets: MarketList | None = None  # Upbit's market list shared by every user (the safeguards)
    _skipped: set[str] = field(default_factory=set)
    _health_failures: int = 0  # cycles in a row whose health.json could not be written

    def run(self) -> None:
        """Supervise until `stop` is set, then stop every runner and wait for them."""
        try:
            while not self.stop.is_set():
                self.supervise()
                self.check_health()
                wait_until(self.clock, self.stop, self.clock.monotonic() + self.settings.cycle_seconds)
        finally:
            self.stop.set()
            self.join()

    def supervise(self) -> None:
        """Start a runner thread for each new user, and again for one whose thread died."""
        for username in discover_users(self.settings.home):
            thread = self.threads.get(username)
            if thread is not None and thread.is_alive():
                continue
            if thread is not None and username not in self._skipped:
                lost = username in self.runners and self.runners[username].database_lost is not None
                why = "its database file is back; checking it" if lost else "runner thread ended unexpectedly"
                self.report(f"{username}: {why}; starting it again")
            thread = threading.Thread(
                target=self._serve, args=(username,), name=f"user-{username}", daemon=True
            )
            self.threads[username] = thread
            thread.start()

    def check_health(self) -> HealthReport | None:
        """Run the watchdog over every runner and write `health.json`; never raises."""
        for username, runner in list(self.runners.items()):
            runner.check_stall()
            if runner.abandon_if_stuck():  # its thread can no longer write: a new one takes over now
                self.threads.pop(username, None)
                self.report(f"{username}: starting a new runner thread in place of the stuck one")
                self.supervise()
        try:
            report = self.health_report()
            write_health(self.settings.home, report)
        except Exception as error:  # health is for display: it must not stop the engine
            if not self._health_failures:  # said once, not every cycle, until it works again
                self.report(f"health.json not written: {error}; retrying every cycle")
            self._health_failures += 1
            return None
        if self._health_failures:
            self.report(f"health.json written again after {self._health_failures} failed cycle(s)")
            self._health_failures = 0
        return report

    def health_report(self) -> HealthReport:
        """The engine's health now: the process, rate groups and every user's loop."""
        now, stale = self.clock.now(), self.settings.stall_limit
        users = []
        lost = {name for name, runner in self.runners.items() if runner.database_lost is not None}
        for username in sorted(lost | set(discover_users(self.settings.home))):
            runner = self.runners.get(username)
            if runner is not None and runner.database_lost is not None:  # no file to read: say why
                users.append(unreadable_user(username, StorageError(runner.database_lost)))
                continue
            errors = None if runner is None else runner.consecutive_errors
            reading = None if runner is None else runner.reading
            try:
                if reading is not None and runner is not None:  # what the runner read at its last tick
                    health = assess_user(username, reading, now, stale, errors)
                    users.append(_with_safety(self._with_delivery(health), runner))
                    continue
                users.append(read_user_health(self.settings.home, username, now, stale, errors))
            except Exception as error:  # one unreadable file must not hide the others
                users.append(unreadable_user(username, error, None if runner is None else runner.desired))
        return HealthReport(
            generated_at=now, engine_id=self.settings.engine_id, cycle_seconds=self.settings.cycle_seconds,
            process=None if self.process is None else process_health(self.process),
            rate_groups=self.rate_counters(), users=users,
        )  # fmt: skip

    def _with_delivery(self, user: UserHealth) -> UserHealth:
        """The user's health with its outbox's delivery state (read by the delivery thread's last
        round) and a failing notification channel named in its alert."""
        notifier = self.notifiers.get(user.username)
        if notifier is None:
            return user
        user = replace(user, notifications=notifier.delivery_state())
        problems = notifier.health().problems()
        if not problems:
            return user
        alert = "; ".join([*([user.alert] if user.alert else []), *problems])
        return replace(user, alert=alert)

    def join(self, timeout: float = JOIN_SECONDS) -> None:
        """Wait for every runner thread to finish its cycle and record its state."""
        for thread in list(self.threads.values()):
            thread.join(timeout)

    def _skip(self, username: str, message: str) -> None:
        """Leave `username` out this cycle, saying why once (it is retried every cycle)."""
        if username not in self._skipped:
            self.report(f"{username}: {message}")
            self._skipped.add(username)

    def _stale_journal(self, username: str) -> str | None:
        """Why a file put back after a loss must not be opened: the lost file's -wal/-shm are there.

        SQLite would apply that old WAL to the new file (mixed pages, "malformed"); `tradebot
        restore` sets them aside first.
        """
        previous = self.runners.get(username)
        if previous is None or previous.database_lost is None:
            return None
        stale = stale_journal(database_path(self.settings.home, username), previous.lost_journal)
        if not stale:
            return None
        names = ", ".join(path.name for path in stale)
        hint = RESTORE_HINT.format(username=username)
        return (
            f"ALERT: its database file is back but {names} left by the lost file are still there; "
            f"SQLite would apply them to the new file, so it is not opened: restore it with `{hint}`"
        )

    def _serve(self, username: str) -> None:
        """A runner thread: its own database connection (SQLite's are per thread), then `run()`."""
        refusal = self._stale_journal(username)
        if refusal is not None:
            self._skip(username, refusal)
            return
        try:
            store = open_user_store(self.settings.home, username, create=False)
        except Exception as error:  # an unreadable file is that user's problem; retried next cycle
            self._skip(username, f"database not opened, skipped: {error}")
            return
        damage = quick_check(store)
        if damage is not None:  # never trade on a damaged file; a restore replaces it
            store.close()
            hint = RESTORE_HINT.format(username=username)
            self._skip(username, f"ALERT: {store.path} fails its check ({damage}); not started: {hint}")
            return
        self._skipped.discard(username)
        runner = UserRunner(
            username, store, self.factory, self.clock, self.settings, self.report, self.markets
        )
        self.runners[username] = runner
        if runner.desired.running:
            self.report(f"{username}: resuming in {runner.desired.mode}")
        home, clock = self.settings.home, self.clock

        def may_open() -> bool:  # the side threads never open a file the runner lost (issue 19 #1)
            return runner.database_lost is None and not runner.superseded

        self._stop_side_threads(username)  # an abandoned runner's, before this one's start
        notifier = self.notifiers[username] = start_user_notifications(home, username, clock, may_open)
        self.pollers[username] = start_telegram_poller(home, username, clock, may_open)  # chat commands
        notify_engine_event(home, username, f"engine {self.settings.engine_id} started", clock)
        try:
            runner.run(self.stop)
        finally:
            if may_open():
                notify_engine_event(home, username, f"engine {self.settings.engine_id} stopped", clock)
            if self.notifiers.get(username) is notifier:  # not yet replaced by a new runner's
                self._stop_side_threads(username)

    def _stop_side_threads(self, username: str) -> None:
        """Stop the user's delivery and chat-command threads (on the calling runner's thread)."""
        notifier, poller = self.notifiers.pop(username, None), self.pollers.pop(username, None)
        if notifier is not None:
            notifier.stop()
        if poller is not None:
            poller.stop()
