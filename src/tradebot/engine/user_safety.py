"""One user's watch over Upbit's own danger signs, run by the user's runner every tick.

- Market standing of every open position of the bot and of the loop's market (`MarketList`): a
  position in a market delisted or suspended is an ALERT, once per market and reason, and stays
  in health until the market is back or the position is gone; flags are listed in health.
- The LIVE key (`KeyHealth`): its expiry read at the first LIVE tick and daily, warned 14, 7 and
  1 day ahead; a key Upbit rejects for good parks the user with the reason in plain words.
The runner's own fields are touched only through the `Supervised` protocol.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Protocol

from tradebot.core.clock import Clock
from tradebot.core.safeguards import (
    DELISTED_REASON,
    SUSPENDED_REASON,
    MarketStanding,
    SafeguardSettings,
    describe,
    entry_blocks,
)
from tradebot.engine.key_health import KeyHealth, KeyReader, parking_reason
from tradebot.engine.market_list import MarketList
from tradebot.engine.runner_types import RunnerSettings
from tradebot.exchange.upbit import ApiKey, Credentials, UpbitExchangeClient, UpbitSession
from tradebot.services.desired_state import DesiredState
from tradebot.services.records import EngineState, Mode
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store
from tradebot.services.user_admin import load_keys

MODES: tuple[Mode, ...] = ("TEST", "LIVE")
NO_STANDARD = SafeguardSettings()  # health lists every flag set, whatever a user allows


class Supervised(Protocol):
    """What the watch needs of the user's runner (`UserRunner`)."""

    username: str
    store: Store
    desired: DesiredState
    failed_reason: str | None

    def close_loop(self) -> None: ...

    def write_status(self, state: EngineState, error: str | None, *, alert: bool = False) -> None: ...

    def say(self, message: str) -> None: ...

    def alert(self, text: str) -> None: ...


def store_key_reader(store: Store, home: Path, username: str, exchange_url: str) -> KeyReader:
    """Read `/v1/api_keys` with the user's stored key pair (one short-lived session per read)."""

    def read() -> tuple[str, list[ApiKey]] | None:
        keys = load_keys(store, SecretBox.for_home(home), username)
        if keys is None:
            return None
        credentials = Credentials(keys.access_key, keys.secret_key)
        # One attempt: a failed read is tried again within the hour (`key_health.RETRY_SECONDS`).
        with UpbitExchangeClient(credentials, UpbitSession(base_url=exchange_url, attempts=1)) as client:
            return keys.access_key, client.list_api_keys()

    return read


class UserSafety:
    """The runner's view of its markets' standing and of its LIVE key."""

    def __init__(self, markets: MarketList | None, keys: KeyHealth | None) -> None:
        self._markets, self.keys = markets, keys
        self._flagged: set[tuple[Mode, str, str]] = set()  # position ALERTs sent (mode, market, reason)
        self.notes: tuple[str, ...] = ()  # for health: flags, position alerts, read problems
        self.alert: str | None = None  # the positions' ALERT for health, None when none

    @property
    def key_expires_at(self) -> datetime | None:
        """When the LIVE key expires, once read."""
        return None if self.keys is None else self.keys.expires_at

    def tick(self, runner: Supervised, loop_market: str | None) -> None:
        """Check the key when due (LIVE only) and the standing of every watched market; never raises."""
        try:
            self._check(runner, loop_market)
        except Exception as error:  # a check for display and alerts must not stop the user
            runner.say(f"market safeguards / key health not checked: {error}")

    def _check(self, runner: Supervised, loop_market: str | None) -> None:
        desired, keys = runner.desired, self.keys
        live = desired.mode == "LIVE" and desired.running and runner.failed_reason is None
        if keys is not None and live and keys.due():
            try:
                keys.check()
            except Exception as error:  # only a rejection that parks the user is raised
                self.parks(runner, error)
        self._check_markets(runner, loop_market)

    def parks(self, runner: Supervised, error: BaseException) -> bool:
        """Park a LIVE user whose key Upbit rejects for good; False if `error` is not that."""
        reason = parking_reason(error)
        if reason is None or runner.desired.mode != "LIVE":
            return False
        runner.close_loop()
        runner.failed_reason = reason
        runner.write_status("failed", f"{reason} (open positions stay flagged in health)", alert=True)
        runner.say(reason)
        return True

    def _check_markets(self, runner: Supervised, loop_market: str | None) -> None:
        held = [(item.mode, item.market) for mode in MODES for item in runner.store.positions(mode)]
        notes: list[str] = []
        alerts: list[str] = []
        if self._markets is not None:
            markets = sorted({market for _, market in held} | ({loop_market} if loop_market else set()))
            standings = self._markets.standings(markets)
            for market in markets:
                standing = standings.get(market)
                reasons = () if standing is None else entry_blocks(standing, NO_STANDARD)
                notes += [f"{market}: {describe(reason)}" for reason in reasons]
            alerts = self._position_alerts(runner, held, standings)
            notes += alerts  # the dashboard shows the ALERTs among the notes
            notes += [self._markets.problem] if self._markets.problem else []
        if self.keys is not None and self.keys.problem:
            notes.append(self.keys.problem)
        self.notes, self.alert = tuple(notes), "; ".join(alerts) or None

    def _position_alerts(
        self, runner: Supervised, held: list[tuple[Mode, str]], standings: dict[str, MarketStanding]
    ) -> list[str]:
        """Each position in a delisted or suspended market: its ALERT (notified once, kept in health)."""
        alerts = []
        for mode, market in held:
            standing = standings.get(market)
            if standing is None or (standing.listed and not standing.suspended):
                continue
            reason = DELISTED_REASON if not standing.listed else SUSPENDED_REASON
            text = (
                f"ALERT: [{mode}] {market} position open in a market where {describe(reason)}: "
                "no new entry; its exits still run, but Upbit may refuse the sale: check it on Upbit"
            )
            alerts.append(text)
            if (mode, market, reason) not in self._flagged:
                self._flagged.add((mode, market, reason))
                runner.alert(text)
        return alerts


class RunnerParts(Supervised, Protocol):
    """What `user_safety` builds the watch from (`UserRunner`)."""

    clock: Clock
    settings: RunnerSettings


def user_safety(runner: RunnerParts, markets: MarketList | None) -> UserSafety:
    """The watch of a runner: the shared market list, and its LIVE key read with the stored keys."""
    settings = runner.settings
    read = store_key_reader(runner.store, settings.home, runner.username, settings.exchange_url)
    return UserSafety(markets, KeyHealth(read, runner.clock, runner.alert))
