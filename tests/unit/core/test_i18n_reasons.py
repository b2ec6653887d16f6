"""Stored reasons rewritten for a person, in each language; unknown parts kept as written."""

from __future__ import annotations

import pytest

from tradebot.core.i18n.reasons import describe_reason


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("no entry: golden_cross, above_ma20 failed", "매수 안 함: 골든크로스, 20 이동평균 위 조건 불충족"),
        ("entry: golden_cross held", "매수: 골든크로스 조건 충족"),
        ("exit: trailing_stop", "매도: 트레일링 스탑"),
        ("warming up: 12 of 200 candles", "준비 중: 캔들 200개 중 12개"),
        (
            "no exit; indicator exits not yet allowed (held 1 of 3 bars)",
            "청산 없음; 지표 청산은 아직 불가 (캔들 3개 중 1개 보유)",
        ),
        (
            "entry: golden_cross held; below_min_order: budget 4,999 KRW is under 5,000 KRW",
            "매수: 골든크로스 조건 충족; 주문 안 함: 예산 4,999원이 업비트 최소 주문 금액 5,000원보다 적음",
        ),
        (
            "entry: golden_cross held; advisor: no-go (volume too thin)",
            "매수: 골든크로스 조건 충족; AI 조언: 매수 보류 (volume too thin)",
        ),
        ("protection:cooldown", "보호(매매 후 대기)"),
        (
            "protection:cooldown: no entry through the candle of 2025-06-02 10:05 KST",
            "보호(매매 후 대기): 2025-06-02 10:05 캔들까지 신규 매수 안 함",
        ),
        (
            "protection:daily_loss: no entry until 2025-06-03 00:00 KST (end of the KST day)",
            "보호(일일 손실 한도): 2025-06-03 00:00(한국 시간 하루 끝)까지 신규 매수 안 함",
        ),
        ("safeguard:caution:PRICE_FLUCTUATIONS", "이 마켓에 업비트 주의 표시: 가격 급등락"),
        ("safeguard:warning", "유의 종목 지정 마켓: 신규 매수 안 함"),
        ("something new; exit: stop_loss", "something new; 매도: 손절"),
        ("", ""),
    ],
)
def test_describe_reason_korean_rewrites_known_shapes(reason: str, expected: str) -> None:
    assert describe_reason(reason, "ko") == expected


def test_describe_reason_english_names_conditions() -> None:
    assert describe_reason("no entry: golden_cross failed", "en") == "no entry: Golden cross failed"


def test_describe_reason_unknown_condition_key_is_kept() -> None:
    assert describe_reason("exit: brand_new_rule", "ko") == "매도: brand_new_rule"


def test_describe_reason_english_protection_text_is_unchanged() -> None:
    reason = "protection:loss_streak: no entry through the candle of 2025-06-02 10:05 KST"
    assert describe_reason(reason, "en") == reason
