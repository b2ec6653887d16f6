"""The 5-second trading loop of one user (TEST or LIVE): fetch, decide on closed candles, trade, audit.

Each cycle: (1) read the ticker and the candles, (2) take every newly closed candle in order
(catching up after a pause), update the indicators and decide per TRADING_RULES.md, (3) check the
price exits against the latest price, (4) trade through the broker, (5) write the evaluation and
audit rows, (6) update the heartbeat. Processed candles are cached in the user's database in the
same transaction as their evaluation: the cache is the record of what was decided, and a restart
rebuilds the indicators from it, so they are never re-seeded mid-run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from tradebot.core.advisor import AdvisorContext, EntryAdvisorProtocol
from tradebot.core.clock import Clock
from tradebot.core.indicators import IndicatorRow
from tradebot.core.krw_rules import to_decimal
from tradebot.core.models import Candle
from tradebot.core.strategy import Action, Decision, IndicatorSeries, check_price_exits, decide
from tradebot.engine import position_steps as steps
from tradebot.engine.audit_rows import EvaluationContext, buy_evaluation, sell_evaluation
from tradebot.engine.halt import raise_if_halted
from tradebot.engine.loop_types import CycleReport, ForceRefused
from tradebot.engine.market_feed import MarketFeed, Quote
from tradebot.engine.order_desk import OrderDesk
from tradebot.engine.order_intent import OrderIntent
from tradebot.engine.position_steps import NOT_SENT, PlannedExit
from tradebot.engine.safeguard_gate import OPEN_GATE, EntryGate
from tradebot.engine.settings_watch import Settings, SettingsWatcher
from tradebot.services.protection_status import (
    NO_PROTECTION,
    ProtectionCheck,
    announce_started,
    protections_at,
)
from tradebot.services.records import EngineState, EngineStatus, Mode, Position, Side
from tradebot.services.storage import Store, Transaction, Window

STALE_INTERVALS = 2
ALL_CANDLES = Window(limit=2**62)  # the whole cache: the series must restart from its first candle


class LiveLoop:
    """One user's trading loop over one market feed and one broker."""

    def __init__(
        self,
        *,
        store: Store,
        feed: MarketFeed,
        desk: OrderDesk,
        clock: Clock,
        watcher: SettingsWatcher,
        mode: Mode,
        engine_id: str = "local",
        advisor: EntryAdvisorProtocol | None = None,
        gate: EntryGate = OPEN_GATE,
    ) -> None:
        self._store, self._feed, self._desk, self._clock = store, feed, desk, clock
        self.market = feed.market  # a guard's is its position's market, whatever the settings say
        self._watcher, self._mode, self._engine_id = watcher, mode, engine_id
        self._advisor = advisor
        self._gate = gate  # Upbit's market safeguards (OPEN_GATE: none, e.g. a guard never buys)
        self._settings = watcher.load()
        self._pending: Settings | None = None
        self._versions = (0, 0)
        self._series = self._new_series()
        self._resync = False  # a candle failed half way: rebuild the indicators from what was recorded
        self._last_error: str | None = None
        self.paused = False

    @property
    def settings(self) -> Settings:
        """The params and conditions in force."""
        return self._settings

    def start(self) -> None:
        """Record the settings, finish interrupted orders and rebuild or warm up the indicators."""
        self._versions = self._record_settings(self._settings)
        # The account is read only once every order is settled: an unsettled sell would otherwise
        # look like coins sold outside the bot and be booked twice (issue 12, finding 6).
        if self._desk.resume_unfinished(self._versions):
            self._last_error = self._desk.reconcile(self._versions)
        else:
            self._last_error = self._desk.waiting
        self._series = self._recorded_series()
        if self._series.last_start is None:  # nothing cached yet: warm up from the exchange
            history = self._feed.history(self._settings.params.warmup_bars)
            with self._store.transaction() as transaction:
                transaction.save_candles(self._feed.market, self._feed.interval, history)
            for candle in history:
                self._series.push(candle)
        self._heartbeat(None, timedelta(0))

    def cycle(self) -> CycleReport:
        """One pass: new settings, closed candles, price exits (even without candles), heartbeat."""
        started = self._clock.monotonic()
        if self._resync:
            self._series, self._resync = self._recorded_series(), False
        self._pending = self._watcher.changed() or self._pending
        if self._desk.resume_unfinished(self._versions):  # a trade outside the bot is noticed within a cycle
            self._last_error = self._desk.reconcile(self._versions) or self._last_error
        else:
            self._last_error = self._desk.waiting or self._last_error
        raise_if_halted()  # between steps: the watchdog's stop request (engine.halt)
        quote = self._feed.quote()
        raise_if_halted()
        if self._series.last_start is None:
            raise RuntimeError("start() must run before cycle()")
        try:
            closed = self._feed.closed_after(self._series.last_start)
        except Exception:
            self._check_price_exits(quote)  # the price exits do not wait for the candles
            raise
        self._resync = True  # until every candle is recorded: a failure half way is decided again
        decisions = []
        for candle in closed:
            raise_if_halted()
            decisions.append(self._on_closed(candle))
        self._resync = False
        tick = self._check_price_exits(quote)
        if tick:
            decisions.append(tick)
        state = self._heartbeat(quote, timedelta(seconds=self._clock.monotonic() - started))
        return CycleReport(len(decisions) - (1 if tick else 0), decisions, quote.price, state)

    # --- closed candles ------------------------------------------------------------------------

    def _on_closed(self, candle: Candle) -> str:
        self._apply_pending()
        row = self._series.push(candle)
        position = self._position()
        if position is not None:
            position = steps.aged(position, candle.start, self._clock.now())
        view = steps.position_view(position)
        params, conditions = self._settings.params, self._settings.conditions
        warming = self._series.seen <= params.warmup_bars
        guard = self._protections(candle.start) if position is None and not warming else NO_PROTECTION
        decision = decide(self._series.window, self._series.seen, view, params, conditions, guard.active)
        context = self._context(candle.start)
        if position is None:
            return self._on_flat(candle, row, decision, context, guard)
        return self._in_position(candle, row, decision, context, position)

    def _on_flat(
        self, candle: Candle, row: IndicatorRow, decision: Decision, context: EvaluationContext,
        guard: ProtectionCheck,
    ) -> str:  # fmt: skip
        note, check = self._entry_blocked(candle) if decision.action is Action.BUY else "", None
        if decision.action is Action.BUY and not note:
            check = steps.plan_entry(self._desk, to_decimal(candle.close), self._settings)
            advice = self._advisor is not None and not check.refusal
            note = self._advice(candle, row, decision, check.budget) if advice else check.explanation()
        evaluation = buy_evaluation(context, decision, row, note)

        def record(transaction: Transaction) -> None:
            transaction.upsert_buy_evaluation(evaluation)
            transaction.save_candles(self._feed.market, self._feed.interval, [candle])
            announce_started(transaction, guard, self._mode, self.market, context.evaluated_at)
            self._gate.record_alert(transaction, evaluation.evaluated_at)  # a new safeguard block

        if check is None or note:
            with self._store.transaction() as transaction:
                record(transaction)
            return f"{_stamp(candle.start)} {decision.action.value}: {evaluation.reason}"
        intent = self._intent("bid", candle.start, "entry")
        outcome = self._desk.place(intent, check.budget, check.fill_price, record)
        self._gate.note_outcome(outcome)
        return f"{_stamp(candle.start)} buy {check.budget:,} KRW: {steps.outcome_text(outcome)}"

    def _entry_blocked(self, candle: Candle) -> str:
        """Why an entry signal on this closed candle is not acted on ("" when nothing blocks it)."""
        if self.paused:
            return "paused: no new entries"
        if self._desk.filled("ask", candle.start) or self._desk.wrote_off_dust(candle.start):
            return "one trade per candle: the position closed during this candle"
        if self._is_stale(candle):
            return "not executed: the candle closed too long ago (catching up after a pause)"
        return self._gate.entry_note(self._settings.params.safeguards)

    def _advice(self, candle: Candle, row: IndicatorRow, decision: Decision, budget: Decimal) -> str:
        """The optional entry advisor's veto as a note ("" to trade); it never raises, by contract."""
        assert self._advisor is not None
        settings = self._settings
        context = AdvisorContext(
            candle=candle, indicators=row, decision=decision, params=settings.params,
            conditions=settings.conditions, budget_krw=budget,
        )  # fmt: skip
        verdict = self._advisor.advise(context)
        return "" if verdict.go else f"advisor: no-go ({verdict.reason})"

    def _in_position(
        self,
        candle: Candle,
        row: IndicatorRow,
        decision: Decision,
        context: EvaluationContext,
        position: Position,
    ) -> str:
        position = steps.with_peak(position, decision.peak)
        selling = decision.action is Action.SELL
        planned = steps.plan_exit(position, to_decimal(candle.close), self._settings)
        dust = planned.dust if selling else ""
        evaluation = sell_evaluation(context, decision, position, "close", row, dust)

        def record(transaction: Transaction) -> None:
            transaction.upsert_sell_evaluation(evaluation)
            transaction.set_position(position)
            transaction.save_candles(self._feed.market, self._feed.interval, [candle])

        if not selling:
            with self._store.transaction() as transaction:
                record(transaction)
            return f"{_stamp(candle.start)} hold: {decision.reason}"
        intent = self._intent("ask", candle.start, decision.trigger)
        done = self._exit(intent, position, planned, record)
        return f"{_stamp(candle.start)} sell ({decision.trigger}): {done}"

    def _exit(
        self,
        intent: OrderIntent,
        position: Position,
        planned: PlannedExit,
        record: Callable[[Transaction], None],
    ) -> str:
        """Sell the position, or write it off as dust: never an order Upbit must refuse for its minimum.

        Returns what happened, for the status line. A write-off waits, like an order, while an
        earlier order is unresolved (it may be this position's sale).
        """
        if not planned.dust:
            outcome = self._desk.place(intent, position.volume, planned.fill_price, record)
            self._gate.note_outcome(outcome)  # a `market_offline` refusal: trading suspended
            return steps.outcome_text(outcome)
        why = "; ".join(part for part in (intent.note, f"exit: {intent.rule}", planned.dust) if part)
        profit = self._desk.write_off_dust(replace(intent, note=why), position, planned.fill_price, record)
        return NOT_SENT if profit is None else planned.dust

    # --- price exits between closes --------------------------------------------------------------

    def guard(self) -> str | None:
        """Only the price exits, on every price, with the current values: a position no loop watches."""
        self._pending = self._watcher.changed() or self._pending
        self._apply_pending()  # new stop values apply at once; the market stays the position's
        self._versions = self._versions if any(self._versions) else self._record_settings(self._settings)
        if self._desk.resume_unfinished(self._versions):  # as in a cycle: never past an open order
            self._desk.reconcile(self._versions)
        raise_if_halted()
        quote = self._feed.quote()
        raise_if_halted()
        return self._check_price_exits(quote, every_price=True)

    def _check_price_exits(self, quote: Quote, every_price: bool = False) -> str | None:
        params = self._settings.params
        position = self._position()
        if position is None or (params.price_exit_check.value != "tick" and not every_price):
            return None
        view = steps.position_view(position)
        assert view is not None  # a position gives a view
        decision = check_price_exits(quote.price, view, params, self._settings.conditions)
        recorded, position = position, steps.with_peak(position, decision.peak)
        forming = self._forming_candle_start()
        if decision.action is not Action.SELL:
            if position is not recorded:  # a new high since entry: the trailing stop follows it
                with self._store.transaction() as transaction:
                    transaction.set_position(position)
            return None
        planned = steps.plan_exit(position, quote.price, self._settings)
        evaluation = sell_evaluation(self._context(forming), decision, position, "tick", note=planned.dust)

        def record(transaction: Transaction) -> None:
            transaction.upsert_sell_evaluation(evaluation)
            transaction.set_position(position)

        done = self._exit(self._intent("ask", forming, decision.trigger), position, planned, record)
        return f"{_stamp(forming)} sell ({decision.trigger}, between closes at {quote.price:,}): {done}"

    # --- manual commands ------------------------------------------------------------------------

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        """Buy or sell now at the latest price with the strategy's sizing; audited as `force`.

        Raises ForceRefused when the order cannot be sent (already in or out of a position, an
        entry under a minimum, an earlier order unresolved). A position too small to sell is
        written off as dust instead of sending an order Upbit must refuse.
        """
        quote = self._feed.quote()
        position = self._position()
        intent = OrderIntent(
            side, self._forming_candle_start(), "force", *self._versions, rule="force",
            command_id=command_id, requested_by=requested_by, note=reason,
        )  # fmt: skip
        if side == "bid":
            if position is not None:
                raise ForceRefused(f"already holding {position.volume} {self._feed.market}: sell first")
            overridden = self._protections(intent.candle_start).active  # allowed, but audited as such
            intent = replace(intent, note=steps.override_note(reason, overridden))
            check = steps.plan_entry(self._desk, quote.price, self._settings)
            if check.refusal is not None:
                raise ForceRefused(check.explanation())
            outcome = self._desk.place(intent, check.budget, check.fill_price, steps.record_nothing)
            if outcome is None:
                raise ForceRefused(NOT_SENT)
            return f"buy at about {quote.price:,} KRW: {steps.outcome_text(outcome)}"
        if position is None:
            raise ForceRefused("no position to sell")
        planned = steps.plan_exit(position, quote.price, self._settings)
        done = self._exit(intent, position, planned, steps.record_nothing)
        if done == NOT_SENT:
            raise ForceRefused(NOT_SENT)
        return f"sell at about {quote.price:,} KRW: {done}"

    # --- helpers --------------------------------------------------------------------------------

    def _apply_pending(self) -> None:
        if self._pending is None:
            return
        new, self._pending = self._pending, None
        old = self._settings.params
        if (new.params.market, new.params.interval) != (old.market, old.interval):
            self._last_error = "market/interval changes take effect when the loop restarts"
            new = Settings(
                new.params.model_copy(update={"market": old.market, "interval": old.interval}), new.conditions
            )
        if (new.params.fast_period, new.params.slow_period, new.params.signal_period) != (
            old.fast_period, old.slow_period, old.signal_period,
        ):  # fmt: skip
            self._last_error = "MACD period changes take effect when the loop restarts"
            periods = {key: getattr(old, key) for key in ("fast_period", "slow_period", "signal_period")}
            new = Settings(new.params.model_copy(update=periods), new.conditions)
        if new.params.warmup_bars != old.warmup_bars:  # a running series never re-enters warm-up
            self._last_error = "warmup_bars changes take effect when the loop restarts"
            new = Settings(new.params.model_copy(update={"warmup_bars": old.warmup_bars}), new.conditions)
        self._settings = new
        self._versions = self._record_settings(new)

    def _record_settings(self, settings: Settings) -> tuple[int, int]:
        now = self._clock.now()
        with self._store.transaction() as transaction:
            params = transaction.record_settings(settings.params, saved_at=now, saved_by="engine")
            conditions = transaction.record_settings(settings.conditions, saved_at=now, saved_by="engine")
        return params, conditions

    def _intent(self, side: str, candle_start: datetime, rule: str | None) -> OrderIntent:
        return OrderIntent(side, candle_start, "strategy", *self._versions, rule=rule)  # type: ignore[arg-type]

    def _context(self, candle_start: datetime) -> EvaluationContext:
        market, interval = self._feed.market, self._feed.interval
        return EvaluationContext(market, interval, candle_start, *self._versions, self._clock.now())

    def _protections(self, start: datetime) -> ProtectionCheck:
        params, market = self._settings.params, self._feed.market
        return protections_at(self._store, mode=self._mode, market=market, params=params, candle_start=start)

    def _position(self) -> Position | None:
        return self._desk.position()

    def _is_stale(self, candle: Candle) -> bool:
        return steps.is_stale(
            candle, self._feed.interval.duration, self._feed.exchange_now(), STALE_INTERVALS
        )

    def _forming_candle_start(self) -> datetime:
        return self._feed.interval.floor(self._feed.exchange_now())

    def _new_series(self) -> IndicatorSeries:
        return steps.new_series(self._settings.params)

    def _recorded_series(self) -> IndicatorSeries:
        """The indicators over the cached candles: exactly the candles whose evaluation was recorded."""
        return steps.series_over(
            self._new_series(), self._store.candles(self._feed.market, self._feed.interval, ALL_CANDLES)
        )

    def _heartbeat(self, quote: Quote | None, duration: timedelta) -> EngineState:
        warming = self._series.seen <= self._settings.params.warmup_bars
        state: EngineState = "paused" if self.paused else "warming_up" if warming else "running"
        error = self._watcher.last_error or self._last_error
        status = EngineStatus(
            state=state, mode=self._mode, heartbeat_at=self._clock.now(), engine_id=self._engine_id,
            last_fetch_at=quote.at if quote else None, last_closed_candle=self._series.last_start,
            last_cycle_duration=duration, last_error=error,
        )  # fmt: skip
        with self._store.transaction() as transaction:
            transaction.set_engine_status(status)
        return state


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
