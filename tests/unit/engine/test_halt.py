"""Bounded waits and the watchdog's halt (`engine.halt`) on injected clocks."""

from __future__ import annotations

import threading

import pytest

from tradebot.engine.halt import LoopHalted, halting_on, raise_if_halted, wait_for

from .test_shared_feed import StepClock


class FrozenClock(StepClock):
    """A clock whose sleep returns at once without moving time (like the simulator's)."""

    def sleep(self, seconds: float) -> None:
        return None


def test_wait_for_answer_landing_meanwhile_returns_true() -> None:
    clock, done = StepClock(), threading.Event()
    threading.Timer(0.01, done.set).start()
    assert wait_for(clock, done, deadline=1_000_000.0)


def test_wait_for_nothing_landing_returns_false_at_the_clocks_deadline() -> None:
    clock = StepClock()
    assert not wait_for(clock, threading.Event(), deadline=2.0)
    assert clock.seconds >= 2.0 - 1e-9  # waited on the injected clock, not the host's


def test_wait_for_clock_that_never_moves_still_returns() -> None:
    assert not wait_for(FrozenClock(), threading.Event(), deadline=0.2)


def test_halted_thread_leaves_its_wait_and_its_next_step() -> None:
    halt = threading.Event()
    halt.set()
    raise_if_halted()  # outside a halting scope nothing is halted
    with halting_on(halt):
        with pytest.raises(LoopHalted):
            wait_for(StepClock(), threading.Event(), deadline=1_000_000.0)
        with pytest.raises(LoopHalted):
            raise_if_halted()
    raise_if_halted()  # the scope ended with the block


def test_halt_of_another_thread_does_not_stop_this_one() -> None:
    halt, inside, checked = threading.Event(), threading.Event(), threading.Event()
    halt.set()

    def other() -> None:
        with halting_on(halt):
            inside.set()
            assert checked.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(5)
    try:
        raise_if_halted()  # the other thread is inside its halted scope: this one is not
    finally:
        checked.set()
        thread.join(5)
