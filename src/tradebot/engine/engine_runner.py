"""One user's supervised loop inside the engine: commands, start/stop, crashes and backoff.

`UserRunner.tick()` is one engine cycle for one user: apply the user's pending commands, start the
loop if it should run (and no backoff delay is pending), run one loop cycle, and turn any crash into
a restart after a delay (5 s, 30 s, 5 min by default). After more crashes in a row than there are
delays the user is parked as `failed` until a start or restart command. Every open position the
loop does not watch (another market or mode; a stopped, crashed or parked user) keeps its price
exits checked by a guard (`position_guards`) until it closes. Exchange errors are not
crashes: the loop stays up and retries every cycle. A database that cannot record (locked, disk
full) closes the loop until it can (retried after 5 s, 15 s, then every 30 s), never parking the
user; a database file deleted or replaced under the engine parks the user for good. `run()` ticks
every cycle in the user's own thread until the engine stops.
"""

from __future__ import annotations

import threading
import traceback
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime

from tradebot.core.clock import Clock, wait_until
from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.database_loss import database_gone
from tradebot.engine.engine_commands import apply_pending_commands, fail_abandoned_commands
from tradebot.engine.exchange_alerts import ExchangeAlerts
from tradebot.engine.halt import LoopHalted, halting_on
from tradebot.engine.market_list import MarketList
from tradebot.engine.position_guards import PositionGuards, guard_note, held_positions
from tradebot.engine.runner_lease import SupersededError
from tradebot.engine.runner_types import POSITION_UNGUARDED, Loop, LoopFactory, Report, RunnerSettings
from tradebot.engine.stall_watch import StallWatch
from tradebot.engine.user_safety import user_safety
from tradebot.exchange.account_reads import CycleAccounts
from tradebot.exchange.upbit import UpbitBlockedError, UpbitError, UpbitResponseError, UpbitTemporaryError
from tradebot.services.desired_state import DesiredState, desired_state
from tradebot.services.health_monitor import PositionKey, UserReading, read_user, reading_while_unreadable
from tradebot.services.notifications.messages import notify_alert
from tradebot.services.records import EngineState, EngineStatus, Mode
from tradebot.services.storage import DatabaseUnavailableError, Store
from tradebot.services.storage.files import FileIdentity


class UserRunner:
    """The supervisor of one user's loop; `tick()` does one cycle's work, never raising."""

    def __init__(
        self,
        username: str,
        store: Store,
        factory: LoopFactory,
        clock: Clock,
        settings: RunnerSettings,
        report: Report,
        markets: MarketList | None = None,
    ) -> None:
        self.username, self.store, self._factory = username, store, factory
        self.clock, self.settings, self._report = clock, settings, report
        self.desired: DesiredState = desired_state(store)
        self.loop: Loop | None = None
        self.guards = PositionGuards(
            factory, self._guard_request, self.say, self.alert
        )  # what no loop watches
        self.reading: UserReading | None = None  # the last health reading of the user's database
        self._resources = ExitStack()
        self.crashes = 0
        self.failed_reason: str | None = None
        self.last_crash: str | None = None
        self.retry_at = 0.0
        self._clean_cycles = 0
        self.consecutive_errors = 0  # crashes and cycle errors since the last clean cycle
        self.watch = StallWatch(clock, settings)  # the watchdog's requests (from the manager's thread)
        self.accounts = CycleAccounts()  # one LIVE account read per tick for the loop and its guards
        store.gate_writes(self.watch.lease.writing)  # and every loop's store (`_request`)
        self.exchange_down_since: datetime | None = None  # first of the cycles failing on the exchange
        self.exchange_alerts = ExchangeAlerts(self.alert)  # unreachable for long, LIVE key rejected
        self.storage_problem: str | None = None  # why the database cannot record now (locked, disk full)
        self.storage_faults = 0  # in a row, for the retry delay
        self.database_lost: str | None = None  # the file was deleted or replaced: parked for good
        self.lost_journal: frozenset[FileIdentity] = frozenset()  # the -wal/-shm the lost file left
        self.safety = user_safety(self, markets)  # Upbit's market safeguards and the LIVE key's health
        fail_abandoned_commands(self)

    @property
    def engine_id(self) -> str:
        """This engine's name (`RunnerSettings.engine_id`), as the command applier records it."""
        return self.settings.engine_id

    # --- one cycle ------------------------------------------------------------------------------

    @property
    def stalled(self) -> bool:
        """The watchdog asked the loop to stop; this thread closes it and starts it again."""
        return self.watch.stalled

    @property
    def superseded(self) -> bool:
        """This runner's thread was abandoned (stuck) and another runner took the user over."""
        return self.watch.lease.revoked

    def tick(self) -> None:
        """Apply pending commands, keep the loop in its desired state and cycle it once."""
        if self.superseded or database_gone(self):
            return
        self.accounts.next_cycle()
        try:
            apply_pending_commands(self)
        except Exception as error:  # one user's storage problem stays this user's
            self.say(f"commands not read: {error}")
        if self.watch.stalled:  # closed and started again here, on the thread its resources belong to
            self.watch.restarted()
            if self.loop is not None:
                self.start_loop()
        due = self.clock.monotonic() >= self.retry_at
        if self.desired.running and self.loop is None and self.failed_reason is None and due:
            self.start_loop()
        try:
            with halting_on(self.watch.halt):
                if self.loop is not None:
                    self._cycle()
                self._guard_positions()
                self.safety.tick(self, None if self.loop is None else self.loop.market)  # never raises
        except LoopHalted:
            self.say("the loop stopped between two steps as the watchdog asked; it starts again next cycle")
            self.close_loop()
        except SupersededError:
            return  # abandoned while it was stuck: the new runner reads and writes from now on
        self._read_health()

    def _read_health(self) -> None:
        """The engine's health report reads this instead of opening every database every cycle."""
        try:
            with self.store.snapshot() as reader:
                reading = read_user(reader, self.desired, self.guards.guarding())
        except Exception as error:  # unreadable now: keep what is known, never a made-up default
            problem = self.storage_problem or f"database not read: {error}"
            trading = self.loop is not None
            self.reading = reading_while_unreadable(self.reading, self.desired, trading, problem)
            return
        if self.storage_problem is not None and reading.status is not None:  # the file cannot say it
            status = replace(reading.status, state="stopped", last_error=self.storage_problem)
            reading = replace(reading, status=status)
        self.reading = reading

    def start_loop(self) -> bool:
        """Build and start the loop in the desired mode; a failure counts as a crash."""
        self.close_loop()
        try:
            loop = self._factory(self._request(), self._resources)
            loop.paused = self.desired.paused
            loop.start()
        except (UpbitTemporaryError, UpbitBlockedError, UpbitResponseError) as error:  # retried, never parks
            self.close_loop()
            self.consecutive_errors += 1
            self._exchange_failed(error)
            self.retry_at = self.clock.monotonic() + self.settings.backoff[0]
            self.last_crash = f"exchange error: {error}"
            self._announce("stopped", f"{self.last_crash}; starting again in {self.settings.backoff[0]:g} s")
            return False
        except DatabaseUnavailableError as error:  # locked or disk full: retried, never parks the user
            self._storage_fault(error)
            return False
        except Exception as error:  # bad params, keys or a bug: this user only
            self._crashed(error)
            return False
        self.loop = loop
        self.watch.progress()
        self._announce("paused" if self.desired.paused else "running", f"started in {self.desired.mode}")
        return True

    def _request(self) -> RunRequest:
        return RunRequest(
            home=self.settings.home, username=self.username, mode=self.desired.mode,
            exchange_url=self.settings.exchange_url, live_confirmed=self.desired.live_confirmed,
            write_gate=self.watch.lease.writing, accounts=self.accounts,
        )  # fmt: skip

    def close_loop(self) -> None:
        """Stop the loop and the price-exit guards (the next tick guards what needs it again)."""
        self.loop = None
        self.guards.close()
        self._close_resources()

    def _close_resources(self) -> None:
        resources, self._resources = self._resources, ExitStack()  # only ever on the runner's thread
        try:
            resources.close()
        except Exception as error:  # closing must not stop the engine
            self.say(f"closing the loop: {error}")

    def check_stall(self) -> bool:
        """Watchdog (the manager's thread): ask a loop silent for `stall_limit` s to stop.

        Nothing is closed here: the runner's thread closes the loop when it leaves its cycle at the
        next step or wait, and starts it again (`tick`).
        """
        silent = self.watch.ask_to_stop(self.loop is not None)
        if silent is None:
            return False
        self.consecutive_errors += 1
        self.say(f"no heartbeat for {silent:.0f} s: the loop is asked to stop; its thread restarts it")
        return True

    def abandon_if_stuck(self) -> bool:
        """Watchdog: give up this runner when its thread is still stuck `abandon_limit` s after the
        stop request; it never writes again, and the manager starts a new runner for the user."""
        waited = self.watch.abandon_if_stuck()
        if waited is None:
            return False
        self.say(f"still stuck {waited:.0f} s after the stop request: its thread is abandoned and writes "
                 "nothing more; a new runner takes over")  # fmt: skip
        return True

    def shutdown(self, note: str = "engine stopped") -> None:
        """Close the loop and record the user as stopped (the desired state is kept)."""
        was_running = self.loop is not None
        self.close_loop()
        if was_running and not self.superseded:  # a replaced runner leaves the status to the new one
            self.write_status("stopped", note)
        self.store.close()

    def _cycle(self) -> None:
        assert self.loop is not None
        try:
            self.loop.cycle()
        except UpbitError as error:  # the loop stays up and retries: not a crash
            if self.safety.parks(self, error):  # a LIVE key Upbit rejects for good: retrying cannot help
                return
            self.consecutive_errors += 1
            self._exchange_trouble(error)
            self._exchange_failed(error)
            return
        except DatabaseUnavailableError as error:
            self._storage_fault(error)
            return
        except (LoopHalted, SupersededError):
            raise  # the watchdog's doing, not a crash: `tick` handles it
        except Exception as error:  # a crash restarts this user's loop only
            self._crashed(error)
            return
        finally:
            self.watch.progress()
        if self.exchange_down_since is not None:
            since = self.exchange_down_since.isoformat(timespec="seconds")
            self.say(f"exchange answering again after {self.consecutive_errors} failed cycles since {since}")
            self.exchange_down_since = None
        self.exchange_alerts.recovered()
        if self.storage_faults:
            self.say(f"database records again: trading resumed after {self.storage_faults} storage fault(s)")
        self.consecutive_errors, self.storage_problem, self.storage_faults = 0, None, 0
        self._clean_cycles += 1
        if self._clean_cycles >= self.settings.healthy_cycles:
            self.crashes = 0

    def _exchange_trouble(self, error: UpbitError) -> None:
        """Log the error and show it as the status row's last error (its heartbeat stays old)."""
        if self.exchange_down_since is None:
            self.exchange_down_since = self.clock.now()
        self.say(f"exchange error, retrying next cycle: {error}")
        since = self.exchange_down_since.isoformat(timespec="seconds")
        message = (
            f"exchange error in {self.consecutive_errors} cycle(s) in a row since {since}: {error}; "
            "retrying every cycle (price exits are checked again with the first price)"
        )
        try:
            with self.store.transaction() as transaction:
                status = transaction.engine_status()
                if status is not None:
                    transaction.set_engine_status(replace(status, last_error=message))
        except Exception as problem:  # the status is for display
            self.say(f"status not recorded: {problem}")

    def _exchange_failed(self, error: UpbitError) -> None:
        since = self.exchange_down_since = self.exchange_down_since or self.clock.now()
        self.exchange_alerts.failed(error, self.desired.mode, since)

    def _storage_fault(self, error: DatabaseUnavailableError) -> None:
        """The database cannot record (locked, disk full): close the loop, retry later, never park.

        Nothing trades while the loop is closed, so no order is sent that cannot be recorded; it
        starts again from what the file holds. Not a crash: the cause is outside the bot.
        """
        self.close_loop()
        self.consecutive_errors += 1
        retry = self.settings.storage_retry
        delay = retry[min(self.storage_faults, len(retry) - 1)]
        self.storage_faults += 1
        self.retry_at = self.clock.monotonic() + delay
        self.storage_problem = (
            f"database unavailable: {error}; not trading until it can record again, retrying in {delay:g} s"
        )
        self._announce("stopped", self.storage_problem)

    def _crashed(self, error: Exception) -> None:
        if self.safety.parks(self, error):
            return
        self.close_loop()
        self.crashes += 1
        self.consecutive_errors += 1
        self._clean_cycles = 0
        self.last_crash = f"{type(error).__name__}: {error}"
        self.exchange_alerts.key_rejected(error, self.desired.mode)
        trace = "".join(traceback.format_exception(error)).rstrip()
        self.say(f"loop crashed ({self.crashes}): {error}\n{trace}")
        if self.crashes > len(self.settings.backoff):
            self.failed_reason = f"failed after {self.crashes} crashes in a row: {error}"
            self._announce("failed", f"{self.failed_reason} ({self._guard_note()})", alert=True)
            return
        delay = self.settings.backoff[self.crashes - 1]
        self.retry_at = self.clock.monotonic() + delay
        self._announce("stopped", f"crashed ({self.crashes}/{len(self.settings.backoff)}): {error}; "
                       f"restarting in {delay:g} s")  # fmt: skip

    # --- every open position keeps its price exits ------------------------------------------------

    def _guard_positions(self) -> None:
        """Guard every open position the loop does not watch (any market, any mode, any state)."""
        try:
            held = self._held()
        except Exception as error:  # unknown positions cannot be guarded: health shows the alert
            if self.guards.unreadable is None:
                self.say(f"open positions not read, their guards not checked: {error}")
            self.guards.unreadable = str(error)
            return
        self.guards.unreadable = None
        covered = None if self.loop is None else (self.desired.mode, self.loop.market)
        problems = self.guards.check(held, covered)
        if problems and self.failed_reason is not None and self.database_lost is None:
            self._announce("failed", f"{self.failed_reason} ({POSITION_UNGUARDED}: {'; '.join(problems)})")

    def _held(self) -> list[PositionKey]:
        return held_positions(self.store)

    def _guard_request(self, mode: Mode, market: str) -> RunRequest:
        """A guard of a LIVE position sends LIVE orders with the stored keys, whatever the user's mode
        now: the user confirmed LIVE when the position was opened, and it must not lose its stop."""
        return replace(self._request(), mode=mode, live_confirmed=mode == "LIVE", guard_market=market)

    def _guard_note(self) -> str:
        """What a parked user is told about its positions' price exits."""
        return guard_note(self.store)

    # --- status and messages ------------------------------------------------------------------

    def reset_failures(self) -> None:
        """Forget earlier crashes (a start or restart command un-parks a failed user)."""
        self.crashes, self.failed_reason, self.retry_at, self._clean_cycles = 0, None, 0.0, 0
        self.storage_faults = 0

    def _announce(self, state: EngineState, message: str, *, alert: bool = False) -> None:
        self.write_status(state, None if state in ("running", "paused") else message, alert=alert)
        self.say(message)

    def write_status(self, state: EngineState, error: str | None, *, alert: bool = False) -> None:
        """Record `state` in the user's status row (the loop writes it while it runs); with `alert`,
        `error` is also an ALERT notification, written in the same transaction."""
        status = EngineStatus(
            state=state, mode=self.desired.mode, heartbeat_at=self.clock.now(),
            engine_id=self.settings.engine_id, last_error=error,
        )  # fmt: skip
        try:
            with self.store.transaction() as transaction:
                transaction.set_engine_status(status)
                if alert and error is not None:
                    notify_alert(transaction, self.username, error, status.heartbeat_at)
        except Exception as problem:  # the status is for display
            self.say(f"status not recorded: {problem}")

    def alert(self, text: str) -> None:
        """Queue an ALERT notification in its own transaction; never raises (trading goes on)."""
        try:
            with self.store.transaction() as transaction:
                notify_alert(transaction, self.username, text, self.clock.now())
        except Exception as problem:  # a notification must never stop the engine
            self.say(f"alert not queued for notification: {problem}")

    def say(self, message: str) -> None:
        """One line (or a traceback) prefixed with the username."""
        self._report(f"{self.username}: {message}")

    # --- the thread -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Tick every `cycle_seconds` until `stop` is set, then shut down cleanly."""
        next_tick = self.clock.monotonic()
        try:
            while not stop.is_set() and self.database_lost is None and not self.superseded:
                self.tick()
                next_tick += self.settings.cycle_seconds
                wait_until(self.clock, stop, next_tick)
        finally:
            self.shutdown()
