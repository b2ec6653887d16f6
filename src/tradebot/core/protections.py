"""Protections (TRADING_RULES.md v2, "Protections"): the bot stops entering after its own losses.

Three rules, each off at 0 and each blocking entries only (exits, stop losses and force sells
are never blocked):

- `protection:cooldown`: after a position closes on candle `i`, no entry on `i+1 … i+cooldown_bars`.
- `protection:loss_streak`: `max_consecutive_losses` losing trades in a row (profit < 0; a profit
  >= 0 resets the count) pause entries on `i+1 … i+loss_pause_bars` after the trade that reached
  the count, which then restarts from 0.
- `protection:daily_loss`: once the trades closed on candles of this KST day (the calendar day of
  the candle's start in Asia/Seoul, UTC+9, no DST) sum to a loss of `max_daily_loss` times the
  equity after the previous day's last candle, no entry for the rest of this KST day.

Candles are counted by their index in the series the strategy saw (the candles the exchange
returned, none invented), so the backtest and a live loop count the same candles. This module is
pure: the callers hand it the closed trades, in exit order, and the candle being evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from tradebot.core.execution import exact
from tradebot.core.krw_rules import MONEY
from tradebot.core.params import StrategyParams

COOLDOWN = "protection:cooldown"
LOSS_STREAK = "protection:loss_streak"
DAILY_LOSS = "protection:daily_loss"
PROTECTION_CODES: tuple[str, ...] = (COOLDOWN, LOSS_STREAK, DAILY_LOSS)

# A fixed offset, never the host's zone database: Korea has kept UTC+9 without DST since 1988.
KST = timezone(timedelta(hours=9), "KST")
SECONDS_PER_DAY = 86_400
KST_OFFSET_SECONDS = 9 * 3_600

EquitySource = Callable[[], Decimal]


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip as the protections see it: the candle it closed on and its profit after both fees.

    `exit_index` is the closed candle's index in the strategy's series; `exit_start` its start
    (aware UTC). A `dust` write-off is a closed trade like any other.
    """

    exit_index: int
    exit_start: datetime
    profit: Decimal


@dataclass(frozen=True, slots=True)
class ActiveProtection:
    """A protection blocking entries on the candle evaluated, and until when.

    `trigger_index` is the candle the trade that started it closed on; the protection is new on
    candle `trigger_index + 1`. `until_index` is the last blocked candle of a candle-counted
    protection (None for the daily loss). Indexes count the candles the caller passed (a live
    caller reads only the newest few), so compare them only within one call. `until` is, for a
    candle-counted one, the start of its last blocked candle when no candle is missing (`exit
    start + bars * interval`), and for the daily loss the end of the KST day (UTC).
    """

    code: str
    trigger_index: int
    until_index: int | None
    until: datetime

    def describe(self) -> str:
        """`protection:cooldown: no entry through the candle of 2025-06-02 10:05 KST` and the like."""
        local = self.until.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")
        if self.until_index is None:
            return f"{self.code}: no entry until {local} (end of the KST day)"
        return f"{self.code}: no entry through the candle of {local}"


def kst_day(moment: datetime) -> date:
    """The KST calendar day of an aware datetime (a candle's start)."""
    return moment.astimezone(KST).date()


def kst_day_number(epoch_seconds: int) -> int:
    """The KST calendar day of a UNIX time as a day count (equal numbers: the same KST day)."""
    return (epoch_seconds + KST_OFFSET_SECONDS) // SECONDS_PER_DAY


def kst_day_end(day: date) -> datetime:
    """The first instant after the KST day `day`, in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=KST) + timedelta(days=1)
    return midnight.astimezone(UTC)


def any_enabled(params: StrategyParams) -> bool:
    """True when at least one protection is on."""
    streak = params.max_consecutive_losses > 0 and params.loss_pause_bars > 0
    return params.cooldown_bars > 0 or streak or params.max_daily_loss > 0


class ProtectionTracker:
    """The protections' state over closed trades fed in exit order; asked about later candles.

    Feed every trade that closed before the candle asked about (`add`), then ask `active`. The
    backtest feeds trades as they close; a live loop rebuilds a tracker from its trade history.
    """

    def __init__(self, params: StrategyParams) -> None:
        self._params = params
        self._last_exit: ClosedTrade | None = None
        self._losses_in_row = 0
        self._pause: ClosedTrade | None = None
        self._day: date | None = None
        self._day_trades: list[ClosedTrade] = []

    def add(self, trade: ClosedTrade) -> None:
        """Take the next closed trade (exit candles never decrease)."""
        params = self._params
        self._last_exit = trade
        self._losses_in_row = self._losses_in_row + 1 if trade.profit < 0 else 0
        if params.max_consecutive_losses > 0 and self._losses_in_row >= params.max_consecutive_losses:
            self._pause, self._losses_in_row = trade, 0
        day = kst_day(trade.exit_start)
        if day != self._day:
            self._day, self._day_trades = day, []
        self._day_trades.append(trade)

    def active(
        self, index: int, candle_start: datetime, day_start_equity: EquitySource
    ) -> tuple[ActiveProtection, ...]:
        """Every protection blocking an entry on candle `index` (starting at `candle_start`), in the
        order cooldown, loss streak, daily loss; empty when none does.

        `day_start_equity` is called only when the daily loss needs it: the equity after the last
        candle of the previous KST day (the starting cash on the first day).
        """
        params = self._params
        found: list[ActiveProtection] = []
        cooldown = self._counted(COOLDOWN, self._last_exit, params.cooldown_bars, index)
        if cooldown is not None:
            found.append(cooldown)
        streak = self._counted(LOSS_STREAK, self._pause, params.loss_pause_bars, index)
        if streak is not None:
            found.append(streak)
        daily = self._daily_loss(index, candle_start, day_start_equity)
        if daily is not None:
            found.append(daily)
        return tuple(found)

    def _counted(
        self, code: str, trigger: ClosedTrade | None, bars: int, index: int
    ) -> ActiveProtection | None:
        if trigger is None or bars <= 0 or not trigger.exit_index < index <= trigger.exit_index + bars:
            return None
        until = trigger.exit_start + bars * self._params.interval.duration
        return ActiveProtection(code, trigger.exit_index, trigger.exit_index + bars, until)

    def _daily_loss(
        self, index: int, candle_start: datetime, day_start_equity: EquitySource
    ) -> ActiveProtection | None:
        limit = self._params.max_daily_loss
        day = kst_day(candle_start)
        if limit <= 0 or day != self._day:
            return None
        total = Decimal(0)
        for trade in self._day_trades:
            if trade.exit_index >= index:
                break
            total = MONEY.add(total, trade.profit)
            # Only a loss can trigger it: with a day-start equity of 0 "0 <= -0" would otherwise
            # block a day without a single loss.
            if total < 0 and total <= MONEY.minus(MONEY.multiply(exact(limit), day_start_equity())):
                return ActiveProtection(DAILY_LOSS, trade.exit_index, None, kst_day_end(day))
        return None


def active_protections(
    trades: Iterable[ClosedTrade],
    index: int,
    candle_start: datetime,
    params: StrategyParams,
    day_start_equity: EquitySource,
) -> tuple[ActiveProtection, ...]:
    """The protections blocking an entry on candle `index`, from the whole closed-trade history.

    Trades closed on candle `index` or later are not counted (the candle that closes a position
    never opens one anyway).
    """
    tracker = ProtectionTracker(params)
    for trade in trades:
        if trade.exit_index < index:
            tracker.add(trade)
    return tracker.active(index, candle_start, day_start_equity)


def newly_started(protections: Iterable[ActiveProtection], index: int) -> tuple[ActiveProtection, ...]:
    """The protections whose first blocked candle is `index` (each trigger is announced once)."""
    return tuple(protection for protection in protections if protection.trigger_index + 1 == index)
