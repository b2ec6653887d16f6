"""The simulated clock: stepped, sped up, never backwards, and a `core.clock.Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tradebot.core.clock import Clock
from tradebot.exchange.simulator.clock import SimulatedClock

START = datetime(2026, 3, 22, 12, 47, 8, tzinfo=UTC)


class FakeTimer:
    def __init__(self) -> None:
        self.value = 500.0

    def __call__(self) -> float:
        return self.value


def test_a_stopped_clock_only_moves_when_stepped() -> None:
    timer = FakeTimer()
    clock = SimulatedClock(START, speed=0, timer=timer)
    timer.value += 1000
    assert clock.now() == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    clock.sleep(30)  # sleeping on a stopped clock is stepping it
    assert clock.now() == START + timedelta(seconds=120)


def test_speed_scales_real_time_and_changes_without_a_jump() -> None:
    timer = FakeTimer()
    clock = SimulatedClock(START, speed=60, timer=timer)
    timer.value += 2
    assert clock.now() == START + timedelta(minutes=2)
    clock.set_speed(1)
    assert clock.now() == START + timedelta(minutes=2)
    timer.value += 3
    assert clock.now() == START + timedelta(minutes=2, seconds=3)
    assert clock.monotonic() == pytest.approx(clock.now().timestamp())


def test_refuses_going_backwards_and_bad_speeds() -> None:
    clock = SimulatedClock(START, speed=0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="speed"):
        clock.set_speed(-2)
    with pytest.raises(ValueError, match="aware"):
        SimulatedClock(START.replace(tzinfo=None))


def test_is_a_core_clock() -> None:
    clock: Clock = SimulatedClock(START, speed=0)
    clock.sleep(5)
    assert clock.now() == START + timedelta(seconds=5)
