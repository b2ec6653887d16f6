"""The engine's start and stop for a user become `engine` messages (silent by default; issue 14)."""

from __future__ import annotations

from tradebot.engine.engine_manager import EngineManager
from tradebot.services.notifications.outbox import due
from tradebot.services.storage import open_user_store

from .test_engine_service import Harness, harness, home
from .test_runner_alerts import configure

__all__ = ["harness", "home"]  # the fixtures this module uses


def engine_messages(harness: Harness, username: str) -> list[tuple[str, str]]:
    with open_user_store(harness.home, username) as store:
        found = due(store, harness.clock.now(), limit=100)
    return [(item.text, item.level) for item in found if item.kind == "engine"]


def test_engine_serving_a_user_queues_started_then_stopped_silently(harness: Harness) -> None:
    configure(harness)  # alice has a channel; bob has none
    settings = harness.runner().settings
    manager = EngineManager(settings, harness.clock, harness.factory, harness.lines.append)
    manager.stop.set()  # each runner thread starts, finds the engine stopping and shuts down

    manager.supervise()
    manager.join()

    assert engine_messages(harness, "alice") == [
        ("alice: engine test-engine started", "silent"),
        ("alice: engine test-engine stopped", "silent"),
    ]
    assert engine_messages(harness, "bob") == []
