"""Optimize page: a study on the user's cached candles; settings saved only after confirmation."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.unit.ui.conftest import page_test
from tradebot.core.models import Interval
from tradebot.core.params import StrategyParams
from tradebot.marketdata.synthetic import generate_candles
from tradebot.services.settings_store import load_params, save_params
from tradebot.services.storage import open_user_store
from tradebot.services.users import conditions_path, params_path

PAGE = "views/optimize.py"
PARAMS = StrategyParams(market="KRW-BTC", interval=Interval.MINUTE1)


def _cache_candles(home: Path, username: str = "alice", count: int = 4_000) -> None:
    series = generate_candles(count, interval=Interval.MINUTE1, seed=21)
    with open_user_store(home, username) as store, store.transaction() as transaction:
        transaction.save_candles(PARAMS.market, PARAMS.interval, [series.candle(i) for i in range(count)])
    save_params(params_path(home, username), PARAMS)


def _run_study(app: AppTest) -> AppTest:
    app.number_input(key="optimize_trials").set_value(10)
    app.number_input(key="optimize_folds").set_value(2)
    app.number_input(key="optimize_min_trades").set_value(2)
    return app.button(key="optimize_run").click().run()


def test_optimize_page_without_cached_candles_says_how_to_get_them(ui_home: Path) -> None:
    app = _run_study(page_test(PAGE).run())

    assert not app.exception
    assert "no cached KRW-BTC minute15 candles yet" in app.error[0].value


def test_optimize_page_runs_a_study_and_shows_verdict_folds_and_charts(ui_home: Path) -> None:
    _cache_candles(ui_home)
    app = _run_study(page_test(PAGE, timeout=120).run())

    assert not app.exception
    assert app.info[0].value.startswith("**Verdict:**")
    assert len(app.dataframe[0].value) == 2
    assert len(app.get("plotly_chart")) >= 2


def test_optimize_page_saves_only_after_confirmation_as_optimize_version(ui_home: Path) -> None:
    _cache_candles(ui_home)
    before = params_path(ui_home, "alice").read_bytes()
    app = _run_study(page_test(PAGE, timeout=120).run())

    app.button(key="optimize_use").click().run()
    assert params_path(ui_home, "alice").read_bytes() == before  # asked, not saved
    assert "replaces your strategy settings" in app.warning[0].value
    app.button(key="optimize_confirm").click().run()

    assert not app.exception
    assert "saved by optimize" in app.success[0].value
    saved = load_params(params_path(ui_home, "alice"))
    assert saved != PARAMS
    assert (saved.market, saved.interval) == (PARAMS.market, PARAMS.interval)
    assert conditions_path(ui_home, "alice").exists()
    with open_user_store(ui_home, "alice") as store:
        latest = store.latest_settings("params")
        conditions = store.latest_settings("conditions")
    assert latest is not None
    assert latest.saved_by == "optimize"
    assert conditions is not None
    assert conditions.saved_by == "optimize"


def test_optimize_page_cancel_keeps_the_settings(ui_home: Path) -> None:
    _cache_candles(ui_home)
    before = params_path(ui_home, "alice").read_bytes()
    app = _run_study(page_test(PAGE, timeout=120).run())
    app.button(key="optimize_use").click().run()
    app.button(key="optimize_cancel").click().run()

    assert not app.exception
    assert params_path(ui_home, "alice").read_bytes() == before
    with open_user_store(ui_home, "alice") as store:
        assert store.latest_settings("params") is None
