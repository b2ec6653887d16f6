"""AI Review page: off by default (how-to and settings only), settings, the key masked, reviews, the log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes.ai_support import OPENAI_KEY, USER, FrozenClock, enable
from tests.fakes.fake_openai import Answer, Delay, Failure, FakeOpenAI
from tests.unit.ui.conftest import page_test
from tests.unit.ui.dashboard_fixtures import opened
from tradebot.core.i18n import text
from tradebot.services.ai_review.config import AiSettings
from tradebot.services.ai_review.setup import AiRuntime
from tradebot.services.ai_review.store import read_key_ciphertext, read_settings, recent_calls
from tradebot.services.secrets import SecretBox

PAGE = "views/ai_review.py"
REVIEW_DAY = "Review the last day"
KEY_INPUT = "ai_key_input"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def ai_home(ui_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The dashboard's data directory, with no OpenAI key in the environment."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return ui_home


def enable_for(home: Path, base_url: str, **overrides: object) -> None:
    """alice's key stored with the data directory's own box, and the feature switched on."""
    ai = AiRuntime(box=SecretBox.for_home(home), clock=FrozenClock())
    with opened(home, USER) as store:
        enable(store, ai, base_url, **overrides)


def run_page() -> AppTest:
    app = page_test(PAGE).run()
    assert not app.exception
    return app


def click(app: AppTest, label: str) -> AppTest:
    next(button for button in app.button if button.label == label).click()
    app.run()
    assert not app.exception
    return app


def everything_shown(app: AppTest) -> str:
    kinds = ("markdown", "success", "info", "warning", "error", "caption", "metric", "text", "json", "code")
    shown = [str(getattr(element, "value", "")) for kind in kinds for element in getattr(app, kind)]
    shown += [str(widget.value) for widget in app.text_input]
    return "\n".join(shown)


def page_protos(app: AppTest) -> str:
    """Every element the page sent, as its protobuf text (widget values and help included)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    return "\n".join(parts)


def settings_of(home: Path) -> AiSettings | None:
    with opened(home, USER) as store:
        return read_settings(store, USER)


def field(app: AppTest, name: str) -> Any:
    """The settings form's input of `name`."""
    widgets = [*app.text_input, *app.number_input, *app.toggle]
    return next(widget for widget in widgets if widget.key == f"ai_setting_{name}")


def test_ai_review_disabled_shows_only_how_to_and_settings(ai_home: Path) -> None:
    app = run_page()
    assert [info.value for info in app.info] == [text("ai.status_how_to")]
    assert [button.label for button in app.button] == ["Save settings", "Save key"]
    assert {widget.label for widget in app.toggle} == {"AI review on", "Entry advisor on"}
    assert not app.dataframe
    assert not app.metric
    assert not app.get("progress")
    assert "Call log" not in [header.value for header in app.subheader]


def test_ai_review_valid_settings_saved_and_shown_as_stored(ai_home: Path) -> None:
    app = run_page()
    field(app, "model").input("gpt-4.1-mini")
    field(app, "base_url").input("http://127.0.0.1:9/v1/")
    field(app, "monthly_cap_usd").set_value(2.5)
    field(app, "max_output_tokens").set_value(300)
    app = click(app, "Save settings")
    assert app.success[0].value == "AI settings saved."
    saved = settings_of(ai_home)
    assert saved is not None
    assert (saved.model, saved.base_url, str(saved.monthly_cap_usd), saved.max_output_tokens) == (
        "gpt-4.1-mini",
        "http://127.0.0.1:9/v1",
        "2.5",
        300,
    )
    assert field(app, "base_url").value == "http://127.0.0.1:9/v1"  # shown as stored


def test_ai_review_settings_invalid_error_next_to_field_nothing_saved(ai_home: Path) -> None:
    app = run_page()
    field(app, "base_url").input("ftp://example.com")
    field(app, "model").input("not a model name")
    app = click(app, "Save settings")
    errors = [error.value for error in app.error]
    assert errors[0] == "Not saved: correct the fields marked below."
    assert any("base_url must be an http://" in error for error in errors)
    assert any("should match pattern" in error for error in errors)
    assert settings_of(ai_home) is None


def test_ai_review_one_price_only_refused_nothing_saved(ai_home: Path) -> None:
    app = run_page()
    field(app, "input_price_per_million_usd").set_value(0.5)
    app = click(app, "Save settings")
    assert "set both input and output prices, or neither" in [error.value for error in app.error]
    assert settings_of(ai_home) is None


def test_ai_review_key_saved_shown_masked_never_in_clear(ai_home: Path) -> None:
    app = run_page()
    app.text_input(key=KEY_INPUT).input(OPENAI_KEY)
    app = click(app, "Save key")
    assert "OpenAI API key saved (encrypted)." in [success.value for success in app.success]
    assert f"`{OPENAI_KEY[:4]}****`" in everything_shown(app)
    assert OPENAI_KEY[4:12] not in everything_shown(app)
    assert app.text_input(key=KEY_INPUT).value == ""
    assert app.session_state[KEY_INPUT] == ""
    assert f"{OPENAI_KEY[:4]}****" in page_protos(app)
    assert OPENAI_KEY[4:12] not in page_protos(app)
    with opened(ai_home, USER) as store:
        ciphertext = read_key_ciphertext(store, USER)
    assert ciphertext is not None
    assert OPENAI_KEY.encode() not in ciphertext
    assert "switch 'AI review on' on" in app.info[0].value  # a key, not yet switched on
    app = click(app, "Forget key")
    assert app.info[0].value == text("ai.status_how_to")


def test_ai_review_environment_key_shown_masked_no_forget_button(
    ai_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    app = run_page()
    assert "an API key is configured (environment)" in app.info[0].value
    assert f"`{OPENAI_KEY[:4]}****`" in app.info[1].value
    assert OPENAI_KEY[4:12] not in page_protos(app)
    assert "Forget key" not in [button.label for button in app.button]


def test_ai_review_key_with_space_refused_not_repeated(ai_home: Path) -> None:
    app = run_page()
    app.text_input(key=KEY_INPUT).input("two words")
    app = click(app, "Save key")
    assert app.error[0].value.startswith("The key was not saved: the OpenAI API key is empty, too long")
    assert "two words" not in everything_shown(app)


def test_ai_review_daily_review_fake_server_statistics_and_text(ai_home: Path, fake: FakeOpenAI) -> None:
    enable_for(ai_home, fake.base_url)
    fake.script(Answer("A quiet day: no trade. Try a shorter interval in a backtest."))
    app = click(run_page(), REVIEW_DAY)
    assert "A quiet day: no trade. Try a shorter interval in a backtest." in [
        markdown.value for markdown in app.markdown
    ]
    assert [metric.value for metric in app.metric][:3] == ["0 / 0", "0 (0)", "–"]
    document = app.json[0].value
    assert '"days": 1' in document
    assert '"closed_trades": 0' in document
    assert len(fake.requests) == 1
    assert OPENAI_KEY not in everything_shown(app)
    app = click(app, "Review the last 7 days")
    assert '"days": 7' in app.json[0].value


def test_ai_review_budget_reached_clear_message_nothing_sent(ai_home: Path, fake: FakeOpenAI) -> None:
    enable_for(ai_home, fake.base_url, monthly_cap_usd="0")
    app = click(run_page(), REVIEW_DAY)
    assert app.warning[0].value.startswith("Monthly AI budget reached: nothing was sent")
    assert "0 USD cap" in app.warning[0].value
    assert fake.requests == []


def test_ai_review_timeout_clear_error(ai_home: Path, fake: FakeOpenAI) -> None:
    enable_for(ai_home, fake.base_url, timeout_seconds=0.3)
    fake.script(Delay(5))
    app = click(run_page(), REVIEW_DAY)
    assert app.error[0].value.startswith("The model did not answer in time")


def test_ai_review_call_log_lists_calls_with_prompt_and_answer(ai_home: Path, fake: FakeOpenAI) -> None:
    enable_for(ai_home, fake.base_url)
    fake.script(Answer("Review text."), Failure(429))
    app = click(click(run_page(), REVIEW_DAY), REVIEW_DAY)
    assert app.error[0].value.startswith("The AI service refused the request for now (rate limit)")
    log = app.dataframe[0].value
    assert log[["purpose", "model", "status"]].values.tolist() == [
        ["review", "gpt-4o-mini", "error"],
        ["review", "gpt-4o-mini", "ok"],
    ]
    assert {"input tokens", "output tokens", "cost (USD)", "time"} <= set(log.columns)
    assert log["input tokens"].tolist()[1] == 1200
    assert "Spent this month" in app.metric[-1].label
    ok_call = int(log["id"].iloc[1])
    app.selectbox(key="ai_log_call").select(ok_call).run()
    codes = [code.value for code in app.code]
    assert codes[-1] == "Review text."
    assert any('"statistics"' in code for code in codes)
    app.selectbox(key="ai_log_purpose").select("explain").run()
    assert "No AI call recorded yet." in [info.value for info in app.info]
    with opened(ai_home, USER) as store:
        assert len(recent_calls(store)) == 2
