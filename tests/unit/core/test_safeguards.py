"""Upbit market safeguards as entry blocks: warning, caution flags (allowed or not), delisting, suspension."""

from __future__ import annotations

from tradebot.core.safeguards import MarketEvent, MarketStanding, SafeguardSettings, describe, entry_blocks

NOTHING_ALLOWED = SafeguardSettings()


def test_entry_blocks_unflagged_market_none() -> None:
    assert entry_blocks(MarketStanding(), NOTHING_ALLOWED) == ()


def test_entry_blocks_warning_and_caution_flags_in_fixed_order() -> None:
    event = MarketEvent(warning=True, caution=frozenset({"TRADING_VOLUME_SOARING", "PRICE_FLUCTUATIONS"}))
    assert entry_blocks(MarketStanding(event=event), NOTHING_ALLOWED) == (
        "safeguard:warning",
        "safeguard:caution:PRICE_FLUCTUATIONS",
        "safeguard:caution:TRADING_VOLUME_SOARING",
    )


def test_entry_blocks_allowed_caution_flag_passes_but_warning_cannot_be_allowed() -> None:
    allowed = SafeguardSettings(allowed_caution_flags=("PRICE_FLUCTUATIONS",))
    caution = MarketStanding(event=MarketEvent(caution=frozenset({"PRICE_FLUCTUATIONS"})))
    assert entry_blocks(caution, allowed) == ()
    warned = MarketStanding(event=MarketEvent(warning=True, caution=frozenset({"PRICE_FLUCTUATIONS"})))
    assert entry_blocks(warned, allowed) == ("safeguard:warning",)


def test_entry_blocks_unknown_caution_flag_from_upbit_blocks() -> None:
    standing = MarketStanding(event=MarketEvent(caution=frozenset({"SOMETHING_NEW"})))
    assert entry_blocks(standing, NOTHING_ALLOWED) == ("safeguard:caution:SOMETHING_NEW",)


def test_entry_blocks_delisted_and_suspended() -> None:
    assert entry_blocks(MarketStanding(listed=False), NOTHING_ALLOWED) == ("safeguard:delisted",)
    suspended = MarketStanding(event=MarketEvent(warning=True), suspended=True)
    assert entry_blocks(suspended, NOTHING_ALLOWED) == ("safeguard:suspended", "safeguard:warning")


def test_describe_reason_starts_with_its_code_and_says_it_in_words() -> None:
    assert describe("safeguard:caution:PRICE_FLUCTUATIONS") == (
        "safeguard:caution:PRICE_FLUCTUATIONS (Upbit caution (주의): sharp price swings)"
    )
    assert describe("safeguard:delisted").startswith("safeguard:delisted (the market is no longer listed")
