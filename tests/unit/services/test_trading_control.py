"""Trading control: commands are checked before they are queued, and nothing is written on refusal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tradebot.core.errors import SettingsError
from tradebot.services.records import EngineStatus, Position
from tradebot.services.storage import Store, open_user_store
from tradebot.services.trading_control import (
    adopted_positions,
    build_request,
    decide_adopted_position,
    submit_command,
    wait_for_acknowledgement,
)
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("TRADEBOT_SECRET_KEY", raising=False)
    create_user(tmp_path, "alice", None, NOW)
    return tmp_path


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    with open_user_store(home, "alice") as opened:
        yield opened


def _beat(store: Store, state: str, at: datetime) -> None:
    with store.transaction() as transaction:
        transaction.set_engine_status(EngineStatus(state=state, mode="TEST", heartbeat_at=at))  # type: ignore[arg-type]


def test_build_request_live_without_confirmation_refused() -> None:
    with pytest.raises(SettingsError, match="real money"):
        build_request("start", "alice", NOW, mode="LIVE")


def test_build_request_mode_on_pause_refused() -> None:
    with pytest.raises(SettingsError, match="not pause"):
        build_request("pause", "alice", NOW, mode="TEST")


def test_build_request_set_mode_without_mode_refused() -> None:
    with pytest.raises(SettingsError, match="needs a mode"):
        build_request("set_mode", "alice", NOW)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_build_request_force_without_reason_refused(reason: str | None) -> None:
    with pytest.raises(SettingsError, match="needs a reason"):
        build_request("force_buy", "alice", NOW, reason=reason)


def test_build_request_force_reason_trimmed_into_args() -> None:
    request = build_request("force_sell", "alice", NOW, reason="  take profit by hand ")
    assert request.args == {"reason": "take profit by hand"}


def test_build_request_live_confirmed_recorded() -> None:
    request = build_request("start", "alice", NOW, mode="LIVE", confirm_live=True)
    assert request.live_confirmed
    assert request.args == {"mode": "LIVE"}


def test_submit_command_force_against_stopped_engine_refused_and_nothing_queued(store: Store) -> None:
    request = build_request("force_buy", "alice", NOW, reason="test")
    with pytest.raises(SettingsError, match="not trading"):
        submit_command(store, "alice", request)
    assert store.recent_commands() == []


def test_submit_command_force_with_stale_heartbeat_refused(store: Store) -> None:
    _beat(store, "running", NOW - timedelta(minutes=5))
    with pytest.raises(SettingsError, match="not trading"):
        submit_command(store, "alice", build_request("force_buy", "alice", NOW, reason="test"))


def test_submit_command_force_with_running_loop_queued(store: Store) -> None:
    _beat(store, "running", NOW - timedelta(seconds=5))
    command_id = submit_command(store, "alice", build_request("force_buy", "alice", NOW, reason="dip"))
    [command] = store.recent_commands()
    assert (command.id, command.kind, command.status, command.args) == (
        command_id,
        "force_buy",
        "pending",
        {"reason": "dip"},
    )


def test_submit_command_live_without_keys_refused(store: Store) -> None:
    request = build_request("start", "alice", NOW, mode="LIVE", confirm_live=True)
    with pytest.raises(SettingsError, match="no Upbit keys"):
        submit_command(store, "alice", request)
    assert store.recent_commands() == []


def test_submit_command_live_with_keys_queued(home: Path, store: Store) -> None:
    save_keys(home, "alice", UpbitKeys("access-key-1", "secret-key-1"), NOW)
    submit_command(store, "alice", build_request("start", "alice", NOW, mode="LIVE", confirm_live=True))
    assert store.recent_commands()[0].live_confirmed


def test_submit_command_other_username_refused(store: Store) -> None:
    with pytest.raises(SettingsError, match="no user bob"):
        submit_command(store, "bob", build_request("start", "bob", NOW))


def test_wait_for_acknowledgement_unacknowledged_returns_none_after_timeout(store: Store) -> None:
    command_id = submit_command(store, "alice", build_request("stop", "alice", NOW))
    clock = StepClock()
    assert wait_for_acknowledgement(store, command_id, 1.0, clock) is None
    assert clock.seconds >= 1.0


def test_wait_for_acknowledgement_acknowledged_returns_command(store: Store) -> None:
    command_id = submit_command(store, "alice", build_request("stop", "alice", NOW))
    with store.transaction() as transaction:
        transaction.claim_next_command(engine_id="e", claimed_at=NOW)
        transaction.acknowledge_command(command_id, status="done", message="stopped", acknowledged_at=NOW)
    command = wait_for_acknowledgement(store, command_id, 1.0, StepClock())
    assert command is not None
    assert command.status == "done"


# --- adopted positions (schema v4) ---------------------------------------------------------------


def _adopt(store: Store, market: str, entry: Decimal | None) -> None:
    position = Position(
        mode="LIVE", market=market, volume=Decimal("0.3"), entry_price=entry, peak_price=entry,
        entry_candle_start=None, bars_held=2, updated_at=NOW, origin="adopted",
    )  # fmt: skip
    with store.transaction() as transaction:
        transaction.set_position(position)


def test_confirm_adopted_position_makes_it_the_bots_and_records_who(store: Store) -> None:
    _adopt(store, "KRW-BTC", Decimal(90_000_000))
    assert [item.market for item in adopted_positions(store)] == ["KRW-BTC"]

    confirmed = decide_adopted_position(store, "KRW-BTC", "confirm", "alice", NOW)

    assert confirmed is not None
    assert (confirmed.origin, confirmed.volume, confirmed.entry_price) == (
        "bot",
        Decimal("0.3"),
        Decimal(90_000_000),
    )
    assert store.positions("LIVE") == [confirmed]
    assert adopted_positions(store) == []
    [decision] = store.position_decisions()
    assert (decision.decision, decision.decided_by, decision.volume) == ("confirm", "alice", Decimal("0.3"))


def test_release_adopted_position_forgets_it_and_records_who(store: Store) -> None:
    _adopt(store, "KRW-ETH", None)

    assert decide_adopted_position(store, "KRW-ETH", "release", "alice", NOW) is None

    assert store.positions("LIVE") == []
    assert [item.decision for item in store.position_decisions()] == ["release"]


def test_confirm_without_known_entry_needs_one_and_writes_nothing(store: Store) -> None:
    _adopt(store, "KRW-ETH", None)
    with pytest.raises(SettingsError, match="entry price is unknown"):
        decide_adopted_position(store, "KRW-ETH", "confirm", "alice", NOW)
    assert store.position_decisions() == []

    confirmed = decide_adopted_position(store, "KRW-ETH", "confirm", "alice", NOW, Decimal(4_000_000))

    assert confirmed is not None
    assert (confirmed.entry_price, confirmed.peak_price) == (Decimal(4_000_000), Decimal(4_000_000))


def test_decision_on_a_bot_position_or_nothing_refused(store: Store) -> None:
    with pytest.raises(SettingsError, match="no LIVE position in KRW-BTC"):
        decide_adopted_position(store, "KRW-BTC", "release", "alice", NOW)
    assert store.position_decisions() == []
