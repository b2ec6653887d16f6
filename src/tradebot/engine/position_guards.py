"""Price-exit guards: no open position is ever left without its stop loss, take profit and trailing stop.

A user's running loop watches the position of its own mode and market. Every other open position
(another market after a settings change, a LIVE position after a switch to TEST, every position
of a stopped, crashed or `failed` user) gets a guard: a loop built by the same factory for that
position's mode and market, of which only `LiveLoop.guard()` runs — the loop's own price-exit
check, on every price, with the user's current stop values. A LIVE position is guarded with LIVE
orders (the stored keys) whatever mode the user runs now. A guard is closed once its position is
closed or the running loop watches it again. All guards read prices through the engine's shared
feed, so every market is priced by the one ticker request per cycle. A position that nothing
guards (its guard cannot be built or failed) raises one ALERT notification when that starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Protocol

from tradebot.engine.bootstrap import RunRequest
from tradebot.engine.halt import LoopHalted
from tradebot.engine.runner_lease import SupersededError
from tradebot.engine.runner_types import POSITION_UNGUARDED
from tradebot.exchange.upbit import UpbitError
from tradebot.services.health_monitor import GUARD, LOOP, NOTHING, Guarding, PositionKey
from tradebot.services.records import Mode
from tradebot.services.storage import DatabaseUnavailableError, Reader

RequestFor = Callable[[Mode, str], RunRequest]  # (mode, market) -> what to build the guard from


class Guardable(Protocol):
    """The part of a loop (`LiveLoop`, or a fake in tests) a guard runs."""

    def guard(self) -> object: ...


GuardFactory = Callable[[RunRequest, ExitStack], Guardable]


@dataclass
class _Guard:
    loop: Guardable
    resources: ExitStack = field(default_factory=ExitStack)
    problem: str | None = None  # why its last check failed (it is tried again next cycle)


class PositionGuards:
    """The guards of one user's positions; `check()` once per engine cycle, in the runner's thread."""

    def __init__(
        self,
        factory: GuardFactory,
        request_for: RequestFor,
        say: Callable[[str], None],
        alert: Callable[[str], None] | None = None,
    ) -> None:
        self._factory, self._request_for, self._say = factory, request_for, say
        self._alert = alert
        self._alerted: set[PositionKey] = set()  # positions nothing guards whose alert was written
        self._guards: dict[PositionKey, _Guard] = {}
        self._not_built: dict[PositionKey, str] = {}  # why a position has no guard yet
        self._covered: PositionKey | None = None
        self.unreadable: str | None = None  # why the positions could not be read (said once)

    def check(self, held: Iterable[PositionKey], covered: PositionKey | None) -> list[str]:
        """Guard every position in `held` but `covered` (the loop's), check each once; new problems."""
        needed = set(held) - {covered}
        self._covered = covered
        for key in [key for key in self._guards if key not in needed]:
            self._close(key)
        self._not_built = {key: why for key, why in self._not_built.items() if key in needed}
        problems = []
        for key in sorted(needed):
            before = self._problem(key)
            guard = self._guards.get(key) or self._build(key, quietly=before is not None)
            if guard is not None:
                self._check(key, guard)
            after = self._problem(key)
            if after is not None and after != before:
                problems.append(f"{_name(key)}: {after}")
                self._say(f"{_name(key)} position: {after}")
            elif after is None and before is not None:
                self._say(f"{_name(key)} position: price exits checked again")
        self._alert_unguarded()
        return problems

    def _alert_unguarded(self) -> None:
        """One ALERT per position when nothing starts guarding it; again only after it was guarded."""
        unguarded = set(self._not_built)
        for key in sorted(unguarded - self._alerted):
            if self._alert is not None:
                self._alert(f"{POSITION_UNGUARDED}: {_name(key)}: {self._not_built[key]}")
        self._alerted = unguarded

    def guarding(self) -> dict[PositionKey, Guarding]:
        """What watches each position known to this runner (for the health report)."""
        known: dict[PositionKey, Guarding] = {
            key: Guarding(NOTHING, why) for key, why in self._not_built.items()
        }
        known.update({key: Guarding(GUARD, guard.problem) for key, guard in self._guards.items()})
        if self._covered is not None:
            known[self._covered] = Guarding(LOOP)
        return known

    def close(self) -> None:
        """Close every guard (the runner stops, or its database is gone)."""
        for key in list(self._guards):
            self._close(key)
        self._not_built.clear()
        self._covered = None

    def _build(self, key: PositionKey, quietly: bool) -> _Guard | None:
        """A new guard, or None with the reason kept; `quietly`: a retry, announced by its outcome."""
        resources = ExitStack()
        try:
            guard = _Guard(self._factory(self._request_for(*key), resources), resources)
        except Exception as error:  # keys gone, exchange down, unreadable settings: tried next cycle
            resources.close()
            self._not_built[key] = f"price exits NOT checked, guard not started: {error}"
            return None
        self._not_built.pop(key, None)
        self._guards[key] = guard
        if not quietly:
            self._say(f"{_name(key)} position: price exits guarded (no loop runs in this mode and market)")
        return guard

    def _check(self, key: PositionKey, guard: _Guard) -> None:
        try:
            sold = guard.loop.guard()
        except (UpbitError, DatabaseUnavailableError) as error:  # retried next cycle, guard kept
            guard.problem = f"price exits not checked this cycle: {error}"
            return
        except (LoopHalted, SupersededError):
            raise  # the watchdog stops the whole runner's cycle: not this guard's failure
        except Exception as error:  # a broken guard is rebuilt next cycle
            self._close(key)
            self._not_built[key] = f"price exits NOT checked, guard failed: {error}"
            return
        guard.problem = None
        if sold:
            self._say(f"{_name(key)} guard: {sold}")

    def _problem(self, key: PositionKey) -> str | None:
        guard = self._guards.get(key)
        return guard.problem if guard is not None else self._not_built.get(key)

    def _close(self, key: PositionKey) -> None:
        guard = self._guards.pop(key)
        try:
            guard.resources.close()
        except Exception as error:  # closing must not stop the engine
            self._say(f"{_name(key)} guard: closing: {error}")


def _name(key: PositionKey) -> str:
    return f"{key[0]} {key[1]}"


def held_positions(store: Reader) -> list[PositionKey]:
    """(mode, market) of every position the bot's own fills made, in both modes."""
    return [
        (item.mode, item.market)
        for mode in ("TEST", "LIVE")
        for item in store.positions(mode)
        if item.origin == "bot"
    ]


def guard_note(store: Reader) -> str:
    """What a parked user is told about its positions' price exits."""
    try:
        holding = bool(held_positions(store))
    except Exception:  # unknown: guards are tried anyway, and health shows whether they run
        holding = True
    if not holding:
        return "no open position"
    return "position open: its stop loss, take profit and trailing stop are still checked on every price"
