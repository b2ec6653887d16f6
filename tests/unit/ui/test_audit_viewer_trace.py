"""The Audit Viewer's Trades tab: the `tradebot why` trace of a chosen trade, AI on or off."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.unit.services.test_audit_query import write_audit_rows
from tests.unit.ui.conftest import page_test
from tests.unit.ui.test_audit_viewer import AI_OFF, PAGE, enable_ai, frames

WHY = "audit_trade_audit_why_row"


def trace_text(app: AppTest) -> str:
    [block] = app.code
    return str(block.value)


@pytest.fixture
def home(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    write_audit_rows(ui_home)
    return ui_home


def test_trades_tab_ai_off_traces_manual_and_strategy_trades(home: Path) -> None:
    app = page_test(PAGE).run()
    assert not app.exception
    assert AI_OFF in [caption.value for caption in app.caption]
    options = app.selectbox(key=WHY).options
    assert [option.split(" · ", 1)[1] for option in options] == [
        "KRW-BTC · sell · manual · trade #2",  # newest first, as the table shows
        "KRW-BTC · buy · strategy Golden cross · trade #1",
    ]
    assert "cause      manual, rule -" in trace_text(app)
    assert "note       sold on the Upbit app" in trace_text(app)
    app.selectbox(key=WHY).select(options[1]).run()
    text = trace_text(app)
    assert "trade #1: TEST buy KRW-BTC minute15" in text
    assert "order      tradebot-alice-1" in text
    assert "evaluation buy_eval" in text
    assert "golden_cross" in text
    assert "+09:00 KST" in text
    assert "settings   params v1, conditions v2" in text
    assert len(frames(app)) == 4  # the tables are unchanged: the trace is text


def test_trades_tab_ai_on_shows_the_same_trace(home: Path) -> None:
    off = trace_text(page_test(PAGE).run())
    enable_ai(home, "http://127.0.0.1:9/v1")
    app = page_test(PAGE).run()
    assert not app.exception
    assert AI_OFF not in [caption.value for caption in app.caption]
    assert app.selectbox(key="audit_trade_audit_explain_row") is not None
    assert trace_text(app) == off
