"""The live loop's small steps around a position: age, peak, planned exit, status wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tradebot.core.broker import OrderOutcome, OrderStatus
from tradebot.core.krw_rules import Fill
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.protections import ActiveProtection
from tradebot.engine.position_steps import (
    NOT_SENT,
    aged,
    outcome_text,
    override_note,
    plan_exit,
    position_view,
    with_peak,
)
from tradebot.engine.settings_watch import Settings
from tradebot.services.records import Position

ENTRY_CANDLE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def held(bars: int = 0, peak: Decimal | None = Decimal(1_000)) -> Position:
    return Position(
        mode="LIVE", market="KRW-BTC", volume=Decimal(5), entry_price=Decimal(1_000), peak_price=peak,
        entry_candle_start=ENTRY_CANDLE, bars_held=bars, updated_at=ENTRY_CANDLE,
    )  # fmt: skip


def test_aged_entry_candle_close_not_counted_later_closes_counted() -> None:
    position = aged(held(), ENTRY_CANDLE, ENTRY_CANDLE + MINUTE)  # the force buy's forming candle closes
    assert position.bars_held == 0
    assert aged(position, ENTRY_CANDLE + MINUTE, ENTRY_CANDLE + 2 * MINUTE).bars_held == 1


def test_with_peak_raises_only_on_new_high() -> None:
    position = held(peak=Decimal(1_100))
    assert with_peak(position, Decimal(1_050)) is position
    assert with_peak(position, Decimal(1_200)).peak_price == Decimal(1_200)


def test_position_view_carries_exact_decimal_entry_and_peak() -> None:
    view = position_view(held(peak=None))
    assert view is not None
    assert (view.entry_price, view.peak) == (Decimal(1_000), Decimal(1_000))


def test_plan_exit_dust_at_fill_price_after_slippage() -> None:
    settings = Settings(StrategyParams(slippage_bps=5.0), Conditions())
    at_minimum = plan_exit(held(), Decimal(1_000), settings)  # 5 x 999.5 = 4,997.5 KRW
    assert at_minimum.fill_price == Decimal("999.5000")
    assert at_minimum.dust.startswith("dust: position worth 4,998 KRW")
    assert plan_exit(held(), Decimal(1_001), settings).dust == ""  # 5 x 1,000.4995 = 5,002.5


def test_outcome_text_says_what_happened() -> None:
    fill = Fill("ask", Decimal(930), Decimal(6), Decimal(5_580), Decimal("2.79"), Decimal("5577.21"))
    assert outcome_text(OrderOutcome("x.1", OrderStatus.FILLED, fill)) == "filled at 930 KRW"
    refused = OrderOutcome("x.1", OrderStatus.REFUSED, error_name="insufficient_funds_ask")
    assert outcome_text(refused) == "refused (insufficient_funds_ask)"
    assert outcome_text(None) == NOT_SENT


def test_override_note_names_each_overridden_protection_after_the_reason() -> None:
    until = datetime(2025, 6, 2, 1, 5, tzinfo=UTC)
    cooldown = ActiveProtection("protection:cooldown", 10, 13, until)
    assert override_note("dip", ()) == "dip"
    assert override_note("dip", (cooldown,)) == (
        "dip (overrides protection:cooldown: no entry through the candle of 2025-06-02 10:05 KST)"
    )
    assert override_note("", (cooldown,)).startswith("overrides protection:cooldown")
