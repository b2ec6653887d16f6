"""features.result_message: one line for the user, the answer itself or why there is none."""

from __future__ import annotations

import pytest

from tradebot.services.ai_review.client import AiResult, CallStatus
from tradebot.services.ai_review.features import HEADLINES, result_message


def test_result_message_answer_and_disabled_text_unchanged() -> None:
    assert result_message(AiResult(status=CallStatus.OK, text="It bought.")) == "It bought."
    assert (
        result_message(AiResult(status=CallStatus.DISABLED, text="AI review is off.")) == "AI review is off."
    )


@pytest.mark.parametrize("status", sorted(HEADLINES))
def test_result_message_failure_headline_then_detail(status: CallStatus) -> None:
    message = result_message(AiResult(status=status, text="detail"))
    assert message == f"{HEADLINES[status]}: detail"


def test_result_message_every_failure_status_has_a_headline() -> None:
    assert set(HEADLINES) == set(CallStatus) - {CallStatus.OK, CallStatus.DISABLED}
    assert result_message(AiResult(status=CallStatus.BUDGET, text="cap 5 USD")).startswith(
        "Monthly AI budget reached: nothing was sent"
    )
