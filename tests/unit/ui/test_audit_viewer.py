"""Audit Viewer page: three tabs of the logged-in user's audit rows, filtered, with versions and CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.ai_support import USER, FrozenClock, enable
from tests.fakes.fake_openai import Answer, FakeOpenAI
from tests.unit.services.test_audit_query import T0, write_audit_rows
from tests.unit.ui.conftest import CREATED, page_test
from tests.unit.ui.dashboard_fixtures import opened
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.setup import AiRuntime, save_settings
from tradebot.services.ai_review.store import recent_calls
from tradebot.services.audit_query import FAILED, HELD
from tradebot.services.paths import database_path
from tradebot.services.secrets import KEY_FILE_NAME, SecretBox

PAGE = "views/audit_viewer.py"
AI_OFF = "🤖 AI explanations are off: the AI Review page says how to enable them."


def frames(app: AppTest) -> list[pd.DataFrame]:
    """The buy, sell and trade tables (the settings-versions table comes last)."""
    return [frame.value for frame in app.dataframe]


def test_audit_viewer_shows_each_table_sorted_by_candle_start_with_symbols_and_versions(
    ui_home: Path,
) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    assert not app.exception
    assert [tab.label for tab in app.tabs] == [
        "Buy evaluations (buy_eval)",
        "Sell evaluations (sell_eval)",
        "Trades (trade_audit)",
    ]
    buy, sell, trades, versions = frames(app)
    assert buy["candle start"].is_monotonic_decreasing  # headers and codes are shown in words
    assert [len(buy), len(sell), len(trades)] == [4, 3, 2]
    assert set(buy["Golden cross"]) == {HELD, FAILED, ""}
    assert {"params version", "conditions version"} <= set(sell.columns)
    assert versions["version"].tolist() == [1, 2, 3]
    labels = [button.label for button in app.get("download_button")]
    assert labels == ["Download CSV (4 rows)", "Download CSV (3 rows)", "Download CSV (2 rows)"]


def test_audit_viewer_failed_condition_and_trigger_filters_narrow_the_rows(ui_home: Path) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    app.selectbox(key="audit_buy_eval_failed").select("golden_cross")
    app.selectbox(key="audit_sell_eval_trigger").select("tick").run()
    buy, sell, _, _ = frames(app)
    assert set(buy["Golden cross"]) == {FAILED}
    assert len(buy) == 2  # candle 0 of KRW-BTC and the KRW-ETH row
    assert sell["trigger"].tolist() == ["tick"]


def test_audit_viewer_date_range_and_market_filters_apply_to_every_tab(ui_home: Path) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE).run()
    app.selectbox(key="audit_market").select("KRW-ETH minute15").run()
    buy, sell, _, _ = frames(app)
    assert buy["market"].tolist() == ["KRW-ETH"]
    assert sell.empty
    app.selectbox(key="audit_market").select("any")
    app.date_input(key="audit_from").set_value(T0.date() + timedelta(days=1)).run()
    assert all(frame.empty for frame in frames(app)[:2])


def test_audit_viewer_shows_only_the_logged_in_users_rows(ui_home: Path) -> None:
    write_audit_rows(ui_home, "alice")
    app = page_test(PAGE, username="bob").run()
    assert not app.exception
    assert all(frame.empty for frame in frames(app)[:3])


def test_audit_viewer_missing_database_is_a_clear_error(ui_home: Path) -> None:
    database_path(ui_home, "alice").unlink()
    app = page_test(PAGE).run()
    assert not app.exception
    assert "Cannot read your audit records" in app.error[0].value
    assert not database_path(ui_home, "alice").exists()


# --- AI explanations (issue 8) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI, ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake OpenAI server, reset, and alice's audit rows; no OpenAI key in the environment."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    write_audit_rows(ui_home)
    server.reset()
    return server


def enable_ai(home: Path, base_url: str, **overrides: object) -> None:
    ai = AiRuntime(box=SecretBox.for_home(home), clock=FrozenClock())
    with opened(home, USER) as store:
        enable(store, ai, base_url, **overrides)


def explain(app: AppTest, table: str, option: str | None = None) -> AppTest:
    """Choose the row whose label contains `option` (default: the first) and press Explain."""
    choice = app.selectbox(key=f"audit_{table}_explain_row")
    if option is not None:
        choice.select(next(label for label in choice.options if option in label))
    app.button(key=f"audit_{table}_explain").click().run()
    assert not app.exception
    return app


def test_audit_viewer_explain_enabled_shows_text_then_from_cache(ui_home: Path, fake: FakeOpenAI) -> None:
    enable_ai(ui_home, fake.base_url)
    fake.script(Answer("It held: the golden cross failed, so no entry."))
    app = page_test(PAGE).run()
    assert AI_OFF not in [caption.value for caption in app.caption]
    assert len(frames(app)) == 4  # the tables are unchanged
    app = explain(app, "buy_eval", "KRW-BTC minute15 · hold")
    assert "It held: the golden cross failed, so no entry." in [text.value for text in app.markdown]
    assert any(caption.value.startswith("AI call #") for caption in app.caption)
    app = explain(app, "buy_eval")
    assert "It held: the golden cross failed, so no entry." in [text.value for text in app.markdown]
    assert any(caption.value.startswith("From the cache") for caption in app.caption)
    assert len(fake.requests) == 1


def test_audit_viewer_explain_trade_and_tick_sell_explain_their_evaluations(
    ui_home: Path, fake: FakeOpenAI
) -> None:
    enable_ai(ui_home, fake.base_url)
    app = page_test(PAGE).run()
    assert [
        label.split(" · ", 1)[1] for label in app.selectbox(key="audit_trade_audit_explain_row").options
    ] == ["KRW-BTC · buy · tradebot-alice-1"]  # the manual sell has no evaluation to explain
    explain(explain(app, "trade_audit"), "sell_eval", "(tick)")
    with opened(ui_home, USER) as store:
        references = [call.row_ref for call in recent_calls(store)]
    assert references == [
        "sell_eval/KRW-BTC/minute15/2026-03-02T01:00:00Z/tick",
        "buy_eval/KRW-BTC/minute15/2026-03-02T00:15:00Z",
    ]


def test_audit_viewer_explain_budget_reached_clear_message(ui_home: Path, fake: FakeOpenAI) -> None:
    enable_ai(ui_home, fake.base_url, monthly_cap_usd="0")
    app = explain(page_test(PAGE).run(), "buy_eval")
    assert app.warning[0].value.startswith("Monthly AI budget reached: nothing was sent")
    assert fake.requests == []


def test_audit_viewer_ai_disabled_no_ai_controls_only_a_caption(ui_home: Path, fake: FakeOpenAI) -> None:
    app = page_test(PAGE).run()
    assert not app.exception
    assert AI_OFF in [caption.value for caption in app.caption]
    assert not [box for box in app.selectbox if "explain" in str(box.key)]
    assert "Explain this evaluation" not in [button.label for button in app.button]
    assert not (ui_home / KEY_FILE_NAME).exists()  # off: the key box is not even opened
    with opened(ui_home, USER) as store:
        save_settings(store, USER, AiSettings(enabled=True), now=CREATED, saved_by=USER)
    app = page_test(PAGE).run()  # switched on but no key: still off
    assert AI_OFF in [caption.value for caption in app.caption]
    assert "Explain this evaluation" not in [button.label for button in app.button]


def test_audit_viewer_korean_session_shows_korean_tabs_headers_and_reasons(ui_home: Path) -> None:
    write_audit_rows(ui_home)
    app = page_test(PAGE)
    app.session_state["language"] = "ko"
    app.run()
    assert not app.exception
    assert [tab.label for tab in app.tabs] == [
        "매수 평가 (buy_eval)",
        "매도 평가 (sell_eval)",
        "거래 (trade_audit)",
    ]
    buy = frames(app)[0]
    assert {"캔들 시작", "골든크로스", "판단", "사유"} <= set(buy.columns)
    assert set(buy["판단"]) <= {"매수", "관망"}
    assert not any("golden_cross" in str(reason) for reason in buy["사유"])
