"""Settings changes are noticed, validated as a whole, and never half-applied."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tradebot.core.params import Conditions, StrategyParams
from tradebot.engine.settings_watch import SettingsWatcher
from tradebot.services.settings_store import save_conditions, save_params


def watcher(tmp_path: Path) -> tuple[SettingsWatcher, Path]:
    params, conditions = tmp_path / "p.json", tmp_path / "c.json"
    save_params(params, StrategyParams())
    save_conditions(conditions, Conditions())
    return SettingsWatcher(params, conditions), params


def bump(path: Path) -> None:
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def test_unchanged_files_report_nothing(tmp_path: Path) -> None:
    watch, _ = watcher(tmp_path)
    watch.load()
    assert watch.changed() is None


def test_saved_params_are_returned_once(tmp_path: Path) -> None:
    watch, params = watcher(tmp_path)
    watch.load()
    save_params(params, StrategyParams(order_ratio=0.2))
    bump(params)
    changed = watch.changed()
    assert changed is not None
    assert changed.params.order_ratio == 0.2
    assert watch.changed() is None


def test_invalid_file_keeps_settings_and_reports_error(tmp_path: Path) -> None:
    watch, params = watcher(tmp_path)
    watch.load()
    document = json.loads(params.read_text()) | {"fast_period": 40}
    params.write_text(json.dumps(document))
    bump(params)
    assert watch.changed() is None
    assert watch.last_error is not None
    assert "slow_period" in watch.last_error
    save_params(params, StrategyParams(fast_period=10))
    bump(params)
    fixed = watch.changed()
    assert fixed is not None
    assert fixed.params.fast_period == 10
    assert watch.last_error is None
