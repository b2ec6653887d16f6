"""Health of the engine and of each user's loop: pure report building, plus `health.json` I/O.

Per user the report is read from the user's own database (the `engine_status` row the loop writes
every cycle, the desired state, the open positions), so `tradebot health` works even when the
engine is dead. Per process it holds RSS, CPU, uptime, threads and the rate-limit counters. The
engine writes the report to `{home}/health.json` every cycle (temp file + rename, so a reader never
sees half a file); the dashboard and `tradebot health` read it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tradebot.exchange.upbit.rate_limit import GroupCounts
from tradebot.services.desired_state import DesiredState, desired_state
from tradebot.services.file_modes import write_file_atomically
from tradebot.services.notifications.delivery_state import DeliveryState, read_delivery_state
from tradebot.services.protection_status import shown_protections
from tradebot.services.records import EngineStatus, Mode, Position
from tradebot.services.storage import Reader, open_user_store

HEALTH_FILE = "health.json"
POSITION_ALERT = "ALERT: open position whose stop loss, take profit and trailing stop nothing checks"
ADOPTED_ALERT = "ALERT: LIVE position waiting for your decision (tradebot ctl adopted)"
ADOPTED_PROBLEM = "adopted from the account: confirm or release it (tradebot ctl adopted)"
ACTIVE_STATES = frozenset({"warming_up", "running", "paused"})
LOOP, GUARD, NOTHING = "loop", "guard", "nothing"  # what checks an open position's price exits
PositionKey = tuple[Mode, str]  # (mode, market) of a `coin_position` row


@dataclass(frozen=True, slots=True)
class Guarding:
    """What checks a position's price exits (LOOP, GUARD or NOTHING), and why not, when it fails."""

    by: str
    problem: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionHealth:
    """One open position and what guards it; amounts as decimal text (JSON has no Decimal)."""

    mode: str
    market: str
    volume: str
    entry_price: str | None
    guarded_by: str  # LOOP, GUARD or NOTHING
    problem: str | None = None

    @property
    def unguarded(self) -> bool:
        """True when nothing checks its price exits now: an ALERT."""
        return self.guarded_by == NOTHING or self.problem is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserHealth:
    """One user's loop as its status row, desired state and positions describe it."""

    username: str
    state: str  # an EngineState, or "unknown" before the engine ever wrote a status
    desired_running: bool
    mode: str
    heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None
    last_fetch_at: datetime | None
    last_closed_candle: datetime | None
    cycle_duration_seconds: float | None
    consecutive_errors: int | None  # known to the engine only
    last_error: str | None
    open_positions: int
    alert: str | None = None
    positions: list[PositionHealth] = field(default_factory=list)
    undecided_positions: int = 0  # adopted from the account by an older version: not guarded, not sold
    notifications: DeliveryState | None = None  # None: no channel configured (or not read)
    protections: tuple[str, ...] = ()  # protections blocking entries now, and until when
    safeguards: list[str] = field(default_factory=list)  # Upbit flags on its markets, read problems
    key_expires_at: datetime | None = None  # the LIVE API key's expiry, once the engine read it


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessHealth:
    """The engine process: memory, CPU, uptime and threads."""

    pid: int
    rss_bytes: int
    cpu_percent: float
    uptime_seconds: float
    threads: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthReport:
    """Everything `health.json` holds."""

    generated_at: datetime
    engine_id: str
    cycle_seconds: float
    process: ProcessHealth | None
    rate_groups: dict[str, GroupCounts] = field(default_factory=dict)
    users: list[UserHealth] = field(default_factory=list)


class ProcessLike(Protocol):
    """The part of `psutil.Process` the snapshot uses (a fake in tests)."""

    pid: int

    def memory_info(self) -> Any: ...

    def cpu_percent(self, interval: float | None = None) -> float: ...

    def create_time(self) -> float: ...

    def num_threads(self) -> int: ...


@dataclass(frozen=True, slots=True)
class UserReading:
    """What a user's database says about its loop: status row, desired state, open positions."""

    status: EngineStatus | None
    desired: DesiredState
    open_positions: int
    positions: tuple[PositionHealth, ...] = ()
    undecided_positions: int = 0


def read_user(
    reader: Reader,
    desired: DesiredState | None = None,
    guarding: Mapping[PositionKey, Guarding] | None = None,
) -> UserReading:
    """The user's reading (`desired` when the caller already knows it: the engine's runner does).

    `guarding` says what checks each position's price exits (the engine's runner knows); a
    position it does not name is guarded by nothing.
    """
    held = [*reader.positions("TEST"), *reader.positions("LIVE")]
    known = desired if desired is not None else desired_state(reader)
    positions = tuple(position_health(position, guarding or {}) for position in held)
    undecided = sum(1 for item in held if item.origin == "adopted")
    return UserReading(reader.engine_status(), known, len(held), positions, undecided)


def position_health(position: Position, guarding: Mapping[PositionKey, Guarding]) -> PositionHealth:
    """`position` with what guards it according to `guarding`."""
    found = guarding.get((position.mode, position.market), Guarding(NOTHING))
    if position.origin == "adopted":  # nothing guards it until the user confirms it is the bot's
        found = Guarding(NOTHING, ADOPTED_PROBLEM)
    entry = None if position.entry_price is None else str(position.entry_price)
    return PositionHealth(
        mode=position.mode, market=position.market, volume=str(position.volume), entry_price=entry,
        guarded_by=found.by, problem=found.problem,
    )  # fmt: skip


def position_alert(positions: Sequence[PositionHealth]) -> str | None:
    """The ALERT naming every position nothing guards, or None."""
    unguarded = [f"{item.mode} {item.market}" for item in positions if item.unguarded]
    return f"{POSITION_ALERT}: {', '.join(unguarded)}" if unguarded else None


def reading_while_unreadable(
    last: UserReading | None, desired: DesiredState, trading: bool, problem: str
) -> UserReading | None:
    """`last` updated with what the engine knows while the file cannot be read; None if never read.

    The desired state and whether the loop trades are the engine's own; `problem` becomes the last
    error, so a LIVE user is never shown as an unknown "TEST, off" during a storage fault.
    """
    if last is None or last.status is None:
        return None  # nothing read yet: the report reads the file itself
    state = last.status.state if trading else "stopped"
    status = replace(last.status, state=state, last_error=problem)
    return replace(last, status=status, desired=desired)


def assess_user(
    username: str, reading: UserReading, now: datetime, stale_seconds: float, consecutive_errors: int | None
) -> UserHealth:
    """The health of one user at `now`; a heartbeat older than `stale_seconds` counts as stalled."""
    status, desired, positions = reading.status, reading.desired, reading.open_positions
    age = None if status is None else (now - status.heartbeat_at).total_seconds()
    fresh = age is not None and age <= stale_seconds
    looping = status is not None and status.state in ACTIVE_STATES and fresh
    held = [  # a loop that stopped beating checks nothing
        replace(item, guarded_by=NOTHING) if item.guarded_by == LOOP and not looping else item
        for item in reading.positions
    ]
    duration = None if status is None else status.last_cycle_duration
    alert = position_alert(held)
    if reading.undecided_positions:
        alert = f"{ADOPTED_ALERT}; {alert}" if alert else ADOPTED_ALERT
    return UserHealth(
        username=username, state="unknown" if status is None else status.state,
        desired_running=desired.running, mode=desired.mode if status is None else status.mode,
        heartbeat_at=None if status is None else status.heartbeat_at, heartbeat_age_seconds=age,
        last_fetch_at=None if status is None else status.last_fetch_at,
        last_closed_candle=None if status is None else status.last_closed_candle,
        cycle_duration_seconds=None if duration is None else duration.total_seconds(),
        consecutive_errors=consecutive_errors, last_error=None if status is None else status.last_error,
        open_positions=positions, alert=alert, positions=held,
        undecided_positions=reading.undecided_positions,
    )  # fmt: skip


def user_health(
    username: str,
    reader: Reader,
    now: datetime,
    stale_seconds: float,
    consecutive_errors: int | None = None,
    guarding: Mapping[PositionKey, Guarding] | None = None,
) -> UserHealth:
    """The health of one user at `now`, read through `reader`."""
    reading = read_user(reader, guarding=guarding)
    health = assess_user(username, reading, now, stale_seconds, consecutive_errors)
    mode = reading.desired.mode if reading.status is None else reading.status.mode
    protections = shown_protections(reader, mode)
    return replace(health, notifications=read_delivery_state(reader, now), protections=protections)


def unreadable_user(username: str, error: Exception, desired: DesiredState | None = None) -> UserHealth:
    """The entry of a user whose database could not be read (the error is the last error).

    `desired` is what the engine knows the user asked for; without it the entry says "off" in
    TEST, which is only a placeholder (a LIVE user must not be shown as TEST when it is known).
    """
    known = desired if desired is not None else DesiredState()
    return UserHealth(
        username=username, state="unreadable", desired_running=known.running, mode=known.mode,
        heartbeat_at=None, heartbeat_age_seconds=None, last_fetch_at=None, last_closed_candle=None,
        cycle_duration_seconds=None, consecutive_errors=None, last_error=f"database not read: {error}",
        open_positions=0,
    )  # fmt: skip


def read_user_health(
    home: Path,
    username: str,
    now: datetime,
    stale_seconds: float,
    consecutive_errors: int | None = None,
    guarding: Mapping[PositionKey, Guarding] | None = None,
) -> UserHealth:
    """`user_health` read from `{home}/tradebot_{username}.db` in one snapshot."""
    with open_user_store(home, username, create=False) as store, store.snapshot() as reader:
        return user_health(username, reader, now, stale_seconds, consecutive_errors, guarding)


def engine_guarding(
    document: Mapping[str, Any] | None, now: datetime, max_age_seconds: float
) -> dict[str, dict[PositionKey, Guarding]]:
    """Per user, what guards each position, as a fresh `health.json` says (nothing when stale).

    Only the engine knows which positions its loops and guards watch; a file older than
    `max_age_seconds` means the engine is down, and then nothing watches any position.
    """
    age = health_file_age(document, now)
    if document is None or age is None or age > max_age_seconds:
        return {}
    found: dict[str, dict[PositionKey, Guarding]] = {}
    for user in document.get("users") or []:
        if not isinstance(user, dict):
            continue
        entries = [item for item in user.get("positions") or [] if isinstance(item, dict)]
        found[str(user.get("username"))] = {
            (_mode(item.get("mode")), str(item.get("market"))): Guarding(
                str(item.get("guarded_by", NOTHING)), item.get("problem")
            )
            for item in entries
        }
    return found


def process_health(process: ProcessLike, now_seconds: float | None = None) -> ProcessHealth:
    """RSS, CPU since the previous call, uptime and thread count of `process` (a `psutil.Process`)."""
    now_seconds = time.time() if now_seconds is None else now_seconds
    return ProcessHealth(
        pid=process.pid, rss_bytes=int(process.memory_info().rss), cpu_percent=process.cpu_percent(None),
        uptime_seconds=max(0.0, now_seconds - process.create_time()), threads=process.num_threads(),
    )  # fmt: skip


def report_document(report: HealthReport) -> dict[str, Any]:
    """The report as JSON-ready data (datetimes in ISO 8601)."""
    document: dict[str, Any] = to_jsonable(asdict(report))
    return document


def to_jsonable(value: Any) -> Any:
    """`value` (dicts, lists, datetimes, plain values) with datetimes as ISO 8601 text."""
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value.isoformat() if isinstance(value, datetime) else value


def write_health(home: Path, report: HealthReport) -> Path:
    """Write `{home}/health.json` atomically (a temp file in `home`, then a rename)."""
    target = home / HEALTH_FILE
    document = json.dumps(report_document(report), ensure_ascii=False, indent=1)
    # Rewritten every cycle: a power cut costs one report, so no fsync on the engine's hot path.
    write_file_atomically(target, document, durable=False)
    return target


def read_health(home: Path) -> dict[str, Any] | None:
    """The last `health.json` the engine wrote, or None when there is none (or it is unreadable)."""
    try:
        document = json.loads((home / HEALTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def health_file_age(document: Mapping[str, Any] | None, now: datetime) -> float | None:
    """Seconds since the engine wrote `document`, or None when unknown."""
    if document is None:
        return None
    try:
        return (now - datetime.fromisoformat(str(document["generated_at"]))).total_seconds()
    except (KeyError, ValueError, TypeError):
        return None


def health_problems(
    users: Sequence[UserHealth], document: Mapping[str, Any] | None, now: datetime, max_age_seconds: float
) -> list[str]:
    """Why `tradebot health` fails (empty when healthy): a stale engine file or a stalled user.

    A position that nothing guards fails too: even a stopped user's open position keeps its price
    exits checked by the engine (TRADING_RULES.md, Positions the bot owns).
    """
    problems = []
    age = health_file_age(document, now)
    if age is None or age > max_age_seconds:
        shown = "missing" if age is None else f"{age:.0f} s old"
        problems.append(f"engine health file {shown} (is `tradebot engine` running?)")
    for user in users:
        stale = user.heartbeat_age_seconds is None or user.heartbeat_age_seconds > max_age_seconds
        if user.desired_running and stale:
            heartbeat = age_text(user.heartbeat_age_seconds)
            problems.append(f"{user.username}: should run but its heartbeat is {heartbeat}")
        if user.alert:
            problems.append(f"{user.username}: {user.alert}")
        if user.notifications is not None and user.notifications.alert:
            problems.append(f"{user.username}: {user.notifications.alert}")
    return problems


def _mode(value: object) -> Mode:
    return "LIVE" if value == "LIVE" else "TEST"


def age_text(seconds: float | None) -> str:
    """`12s ago`, or `never`."""
    return "never" if seconds is None else f"{seconds:.0f}s ago"
