"""The shared market list, the loop's safeguard gate and the LIVE key's health, with fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.clocks import StepClock
from tradebot.core.broker import OrderOutcome, OrderStatus
from tradebot.core.safeguards import MarketEvent, MarketStanding, SafeguardSettings
from tradebot.engine.key_health import KeyHealth, parking_reason
from tradebot.engine.market_list import MarketList
from tradebot.engine.safeguard_gate import SafeguardGate
from tradebot.exchange.upbit import ApiKey, Market, UpbitAuthError, UpbitConnectionError

START = datetime(2026, 3, 22, 12, 0, tzinfo=UTC)


class FakeMarkets:
    """`/v1/market/all?is_details=true` answers the test sets, or fails."""

    def __init__(self) -> None:
        self.markets = [
            Market("KRW-BTC", "비트코인", "Bitcoin", False),
            Market("KRW-ETH", "이더리움", "Ethereum", False),
        ]
        self.failing = False
        self.calls = 0

    def list_markets(self, *, details: bool = False) -> list[Market]:
        self.calls += 1
        if self.failing:
            raise UpbitConnectionError("connection refused")
        return list(self.markets)

    def flag(self, code: str, *, warning: bool = False, caution: frozenset[str] = frozenset()) -> None:
        self.markets = [
            Market(item.market, item.korean_name, item.english_name, warning, caution)
            if item.market == code
            else item
            for item in self.markets
        ]


def test_market_list_read_once_per_refresh_for_every_reader() -> None:
    source, clock = FakeMarkets(), StepClock(START)
    markets = MarketList(source, clock, refresh_seconds=300)
    for _ in range(10):
        assert markets.standing("KRW-BTC") == MarketStanding()
    clock.advance(299)
    source.flag("KRW-BTC", warning=True)
    assert markets.standing("KRW-BTC") == MarketStanding()  # the old list until the refresh
    clock.advance(1)
    assert markets.standing("KRW-BTC") == MarketStanding(event=MarketEvent(warning=True))
    assert source.calls == 2


def test_market_list_market_gone_is_delisted() -> None:
    source, clock = FakeMarkets(), StepClock(START)
    markets = MarketList(source, clock, refresh_seconds=60)
    source.markets = source.markets[:1]
    assert markets.standing("KRW-ETH") == MarketStanding(listed=False)


def test_market_list_failed_read_keeps_last_list_and_says_so() -> None:
    source, clock = FakeMarkets(), StepClock(START)
    markets = MarketList(source, clock, refresh_seconds=60)
    source.flag("KRW-ETH", caution=frozenset({"PRICE_FLUCTUATIONS"}))
    assert markets.standing("KRW-ETH") is not None
    source.failing = True
    clock.advance(60)
    standing = markets.standing("KRW-ETH")
    assert standing == MarketStanding(event=MarketEvent(caution=frozenset({"PRICE_FLUCTUATIONS"})))
    assert markets.problem is not None
    assert "using the list read at 2026-03-22T12:00:00+00:00" in markets.problem
    source.failing = False
    clock.advance(60)  # retried within a minute, not at every reader
    markets.standing("KRW-ETH")
    assert markets.problem is None


def test_market_list_never_read_blocks_nothing_and_says_so() -> None:
    source, clock = FakeMarkets(), StepClock(START)
    source.failing = True
    markets = MarketList(source, clock)
    assert markets.standing("KRW-BTC") is None
    assert markets.problem is not None
    assert "entries not blocked" in markets.problem


def test_market_list_market_offline_refusal_suspends_for_a_while() -> None:
    clock = StepClock(START)
    markets = MarketList(FakeMarkets(), clock, suspension_seconds=1800)
    markets.note_refusal("KRW-BTC", "insufficient_funds_bid")
    assert markets.standing("KRW-BTC") == MarketStanding()
    markets.note_refusal("KRW-BTC", "market_offline")
    assert markets.standing("KRW-BTC") == MarketStanding(suspended=True)
    clock.advance(1800)
    assert markets.standing("KRW-BTC") == MarketStanding()


def test_safeguard_gate_arms_one_alert_per_change_of_reasons() -> None:
    source, clock = FakeMarkets(), StepClock(START)
    gate = SafeguardGate(MarketList(source, clock, refresh_seconds=1), "KRW-BTC", "alice", "LIVE")
    nothing = SafeguardSettings()
    assert gate.entry_note(nothing) == ""
    source.flag("KRW-BTC", warning=True)
    clock.advance(1)
    assert gate.entry_note(nothing).startswith("safeguard:warning (")
    assert gate._pending is not None
    assert "[LIVE] KRW-BTC: new entries blocked" in gate._pending
    gate._pending = None
    clock.advance(1)
    assert gate.entry_note(nothing).startswith("safeguard:warning")
    assert gate._pending is None
    source.flag("KRW-BTC", warning=True, caution=frozenset({"PRICE_FLUCTUATIONS"}))
    clock.advance(1)
    assert "safeguard:caution:PRICE_FLUCTUATIONS" in gate.entry_note(nothing)
    assert gate._pending is not None
    allowed = SafeguardSettings(allowed_caution_flags=("PRICE_FLUCTUATIONS",))
    assert "caution" not in gate.entry_note(allowed)


def test_safeguard_gate_refused_order_with_market_offline_blocks_next_entry() -> None:
    gate = SafeguardGate(MarketList(FakeMarkets(), StepClock(START)), "KRW-BTC", "alice", "TEST")
    gate.note_outcome(OrderOutcome("id-1", OrderStatus.REFUSED, error_name="market_offline"))
    assert gate.entry_note(SafeguardSettings()).startswith("safeguard:suspended")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("expired_access_key", "the API key has expired"),
        ("no_authorization_ip", "this server's IP is not in the key's allowed list"),
        ("no_authorization_i_p", "this server's IP is not in the key's allowed list"),
        ("out_of_scope", "the key lacks a permission"),
        ("jwt_verification", "the stored secret key does not belong to the access key"),
    ],
)
def test_parking_reason_for_each_rejection_in_plain_words(name: str, words: str) -> None:
    reason = parking_reason(UpbitAuthError("refused", name=name, status=401))
    assert reason is not None
    assert words in reason


def test_parking_reason_none_for_other_errors() -> None:
    assert parking_reason(UpbitAuthError("nonce", name="nonce_used", status=401)) is None
    assert parking_reason(UpbitConnectionError("down")) is None


def test_key_health_found_with_3_days_left_warns_once_then_at_1_day() -> None:
    clock, warnings = StepClock(START), []
    expiry = START + timedelta(days=3)
    health = KeyHealth(
        lambda: ("key", [ApiKey("key", expiry), ApiKey("other", START)]), clock, warnings.append
    )
    for _ in range(4 * 24):
        if health.due():
            health.check()
        clock.advance(timedelta(hours=1))
    assert (
        [text.split(" (on ")[0] for text in warnings]
        == [
            "LIVE API key expires in 3 days",  # the 7-day warning, once: never the 14-day one after it
            "LIVE API key expires in 24 hours",
            "LIVE API key expires in no time: it has expired",
        ][: len(warnings)]
    )
    assert len(warnings) == 2


def test_key_health_read_failure_retried_within_the_hour_and_shown() -> None:
    clock = StepClock(START)
    answers: list[object] = [
        UpbitConnectionError("down"),
        ("key", [ApiKey("key", START + timedelta(days=300))]),
    ]

    def read() -> tuple[str, list[ApiKey]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    health = KeyHealth(read, clock, lambda text: None)
    health.check()
    assert health.problem is not None
    assert not health.due()
    clock.advance(3600)
    assert health.due()
    health.check()
    assert health.problem is None
    assert health.expires_at == START + timedelta(days=300)


def test_key_health_rejection_that_parks_is_raised() -> None:
    def read() -> tuple[str, list[ApiKey]]:
        raise UpbitAuthError("expired", name="expired_access_key", status=401)

    with pytest.raises(UpbitAuthError):
        KeyHealth(read, StepClock(START), lambda text: None).check()
