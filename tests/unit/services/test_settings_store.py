"""Settings files: all-or-nothing loading, atomic saving with a backup, safe usernames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradebot.core.errors import SettingsError
from tradebot.core.params import Conditions, StrategyParams
from tradebot.services.settings_store import load_conditions, load_params, save_conditions, save_params
from tradebot.services.users import conditions_path, params_path, validate_username


def write_params(path: Path, **changes: object) -> None:
    document = StrategyParams().model_dump(mode="json") | changes
    path.write_text(json.dumps(document), encoding="utf-8")


def test_params_save_then_load_round_trips(tmp_path: Path) -> None:
    params = StrategyParams(market="krw-eth", fast_period=8, take_profit=0.05)
    path = tmp_path / "alice_latest_params.json"
    save_params(path, params)
    assert load_params(path) == params
    assert json.loads(path.read_text())["market"] == "KRW-ETH"


def test_save_keeps_previous_version_as_backup(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_params(path, StrategyParams(fast_period=8))
    save_params(path, StrategyParams(fast_period=9))
    assert load_params(path).fast_period == 9
    assert load_params(tmp_path / "p.json.bak").fast_period == 8
    assert sorted(item.name for item in tmp_path.iterdir()) == ["p.json", "p.json.bak"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"fast_period": 30}, "slow_period"),
        ({"take_profit": 0}, "take_profit"),
        ({"fast_period": "12"}, "fast_period"),
        ({"fast_period": True}, "fast_period"),
        ({"market": "BTC"}, "market"),
        ({"interval": "minute2"}, "interval"),
        ({"order_ratio_percent": 10}, "order_ratio_percent: unknown key"),
    ],
)
def test_invalid_params_file_names_field_and_is_left_untouched(
    tmp_path: Path, changes: dict[str, object], named: str
) -> None:
    path = tmp_path / "p.json"
    write_params(path, **changes)
    before = path.read_bytes()
    with pytest.raises(SettingsError, match=named) as error:
        load_params(path)
    assert "\n" not in str(error.value)
    assert path.read_bytes() == before


def test_params_file_missing_a_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    document = StrategyParams().model_dump(mode="json")
    del document["order_ratio"]
    path.write_text(json.dumps(document))
    with pytest.raises(SettingsError, match="missing keys: order_ratio"):
        load_params(path)


@pytest.mark.parametrize("text", ["{", "[]", "", "\xff"])
def test_malformed_params_file_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(SettingsError, match=r"p\.json"):
        load_params(path)


def test_missing_params_file_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="file not found"):
        load_params(tmp_path / "absent.json")


def test_conditions_round_trip_and_nothing_enabled_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save_conditions(path, Conditions())
    assert load_conditions(path) == Conditions()
    document = json.loads(path.read_text())
    document["buy"] = dict.fromkeys(document["buy"], False)
    path.write_text(json.dumps(document))
    with pytest.raises(SettingsError, match="at least one buy condition"):
        load_conditions(path)


def test_conditions_unknown_sell_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    document = Conditions().model_dump(mode="json")
    document["sell"]["panic_sell"] = True
    path.write_text(json.dumps(document))
    with pytest.raises(SettingsError, match=r"sell\.panic_sell: unknown key"):
        load_conditions(path)


def test_failed_save_leaves_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    save_params(path, StrategyParams(fast_period=8))
    (tmp_path / "p.json.bak").mkdir()  # the backup cannot be written
    with pytest.raises(OSError, match="directory"):
        save_params(path, StrategyParams(fast_period=9))
    assert load_params(path).fast_period == 8
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("name", ["alice", "bob_2", "a1_"])
def test_valid_username_builds_per_user_file_names(tmp_path: Path, name: str) -> None:
    assert params_path(tmp_path, name) == tmp_path / f"{name}_latest_params.json"
    assert conditions_path(tmp_path, name) == tmp_path / f"{name}_buy_sell_conditions.json"


@pytest.mark.parametrize(
    "name", ["../etc", "ab", "Alice", "a" * 33, "al ice", "al/ice", "ali\x00ce", "álvaro", "x'; drop", ""]
)
def test_invalid_username_refused_before_any_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(SettingsError, match="invalid username"):
        validate_username(name)
    with pytest.raises(SettingsError):
        params_path(tmp_path, name)


def test_load_params_duplicate_key_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "alice_latest_params.json"
    write_params(path)
    text = path.read_text(encoding="utf-8")
    duplicated = text.replace('"fast_period": 12', '"fast_period": 12, "fast_period": 3')
    path.write_text(duplicated, encoding="utf-8")
    assert text != path.read_text(encoding="utf-8")
    with pytest.raises(SettingsError, match="key 'fast_period' appears more than once"):
        load_params(path)


def test_load_conditions_nested_duplicate_key_refused(tmp_path: Path) -> None:
    path = tmp_path / "alice_buy_sell_conditions.json"
    save_conditions(path, Conditions())
    document = Conditions().model_dump(mode="json")
    nested = next(name for name, value in document.items() if isinstance(value, dict) and value)
    inner = next(iter(document[nested]))
    text = json.dumps(document)
    marker = f'"{nested}": {{'
    entry = f"{json.dumps(inner)}: {json.dumps(document[nested][inner])}, "
    duplicated = text.replace(marker, marker + entry, 1)
    path.write_text(duplicated, encoding="utf-8")
    with pytest.raises(SettingsError, match=f"key '{inner}' appears more than once"):
        load_conditions(path)


def test_load_params_symlink_refused_and_target_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "outside.json"
    write_params(secret)
    link = tmp_path / "alice_latest_params.json"
    link.symlink_to(secret)
    with pytest.raises(SettingsError, match="is a symbolic link"):
        load_params(link)


def test_save_params_over_symlink_refused_nothing_copied_into_backup(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    link = tmp_path / "alice_latest_params.json"
    link.symlink_to(target)
    with pytest.raises(SettingsError, match="is a symbolic link"):
        save_params(link, StrategyParams())
    assert not (tmp_path / "alice_latest_params.json.bak").exists()
    assert target.read_text(encoding="utf-8").startswith("root:")


def test_save_params_file_mode_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "alice_latest_params.json"
    save_params(path, StrategyParams())
    save_params(path, StrategyParams(fast_period=8))
    backup = tmp_path / "alice_latest_params.json.bak"
    assert (path.stat().st_mode & 0o777, backup.stat().st_mode & 0o777) == (0o600, 0o600)


PROTECTION_KEYS = ("cooldown_bars", "max_consecutive_losses", "loss_pause_bars", "max_daily_loss")


def test_params_file_from_before_protections_loads_them_off_and_gains_them_at_next_save(
    tmp_path: Path,
) -> None:
    path = tmp_path / "alice_latest_params.json"
    document = StrategyParams(fast_period=8).model_dump(mode="json")
    for key in PROTECTION_KEYS:
        del document[key]
    path.write_text(json.dumps(document), encoding="utf-8")
    loaded = load_params(path)
    assert [getattr(loaded, key) for key in PROTECTION_KEYS] == [0, 0, 0, 0.0]
    assert loaded.fast_period == 8
    save_params(path, loaded.model_copy(update={"cooldown_bars": 3}))
    saved = json.loads(path.read_text())
    assert {key: saved[key] for key in PROTECTION_KEYS} == {
        "cooldown_bars": 3, "max_consecutive_losses": 0, "loss_pause_bars": 0, "max_daily_loss": 0.0,
    }  # fmt: skip


def test_params_file_without_safeguards_loads_with_nothing_allowed(tmp_path: Path) -> None:
    path = tmp_path / "alice_latest_params.json"
    save_params(path, StrategyParams())
    document = json.loads(path.read_text(encoding="utf-8"))
    del document["safeguards"]  # a file written before the key existed
    path.write_text(json.dumps(document), encoding="utf-8")
    assert load_params(path).safeguards.allowed_caution_flags == ()
