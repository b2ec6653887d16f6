"""Params and conditions files: any document loads as a valid model or is refused with one line.

A refused load names the file, changes nothing on disk and creates nothing; save then load gives
the same settings back, and a second save keeps the first file as `.bak`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.property.strategies import (
    FEW_EXAMPLES,
    JSON_VALUES,
    PROPERTY_SETTINGS,
    deleted,
    json_paths,
    one_line,
    replaced,
)
from tradebot.core.errors import SettingsError
from tradebot.core.models import Interval
from tradebot.core.params import KEYS_ADDED_LATER, MAX_WARMUP_BARS, Conditions, PriceExitCheck, StrategyParams
from tradebot.core.safeguards import CAUTION_FLAGS, SafeguardSettings
from tradebot.services.settings_store import load_conditions, load_params, save_conditions, save_params


@st.composite
def valid_params(draw: st.DrawFn) -> StrategyParams:
    """Any settings the model accepts, spread over each field's whole range."""
    fast = draw(st.integers(2, 499))
    slow = draw(st.integers(fast + 1, 1000))
    signal = draw(st.integers(2, 500))
    ratio = st.floats(min_value=1e-9, max_value=1.0)
    below_one = st.floats(min_value=1e-9, max_value=1.0, exclude_max=True)
    losses = draw(st.integers(0, 1_000))
    return StrategyParams(
        market=draw(st.from_regex(r"KRW-[A-Z0-9]{1,15}", fullmatch=True)),
        interval=draw(st.sampled_from(Interval)),
        fast_period=fast,
        slow_period=slow,
        signal_period=signal,
        macd_threshold=draw(st.floats(min_value=-1e12, max_value=1e12)),
        take_profit=draw(st.floats(min_value=1e-9, max_value=10.0)),
        stop_loss=draw(below_one),
        trailing_stop=draw(below_one),
        min_holding_bars=draw(st.integers(0, 10_000)),
        order_ratio=draw(ratio),
        price_exit_check=draw(st.sampled_from(PriceExitCheck)),
        warmup_bars=draw(st.integers(slow + signal, MAX_WARMUP_BARS)),
        slippage_bps=draw(st.floats(min_value=0.0, max_value=1000.0)),
        cooldown_bars=draw(st.integers(0, 10_000)),
        max_consecutive_losses=losses,
        loss_pause_bars=draw(st.integers(1 if losses else 0, 10_000)),
        max_daily_loss=draw(st.floats(min_value=0.0, max_value=1.0)),
        safeguards=SafeguardSettings(
            allowed_caution_flags=tuple(draw(st.lists(st.sampled_from(CAUTION_FLAGS), unique=True)))
        ),
    )


@st.composite
def valid_conditions(draw: st.DrawFn) -> Conditions:
    """Any switches with at least one buy condition on."""
    buy = draw(st.fixed_dictionaries({key: st.booleans() for key in Conditions().buy.model_dump()}))
    if not any(buy.values()):
        buy["golden_cross"] = True
    sell = draw(st.fixed_dictionaries({key: st.booleans() for key in Conditions().sell.model_dump()}))
    return Conditions.model_validate({"buy": buy, "sell": sell})


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in `directory` with its bytes."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def load_or_refuse(path: Path, loader: Any) -> object:
    """The loaded model, or the SettingsError after checking it is one line naming the file."""
    before = snapshot(path.parent)
    try:
        return loader(path)
    except SettingsError as error:
        message = str(error)
        assert one_line(message), message
        assert message.startswith(f"{path}: "), message
        assert snapshot(path.parent) == before  # nothing changed, nothing created
        return error


@PROPERTY_SETTINGS
@given(document=JSON_VALUES)
def test_params_file_any_json_document_loads_or_is_refused_with_one_line(
    tmp_path: Path, document: object
) -> None:
    path = tmp_path / "alice_latest_params.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    outcome = load_or_refuse(path, load_params)
    assert isinstance(outcome, StrategyParams | SettingsError)


@PROPERTY_SETTINGS
@given(content=st.binary(max_size=200))
def test_params_file_arbitrary_bytes_are_refused_with_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "alice_latest_params.json"
    path.write_bytes(content)
    assert isinstance(load_or_refuse(path, load_params), SettingsError)


@PROPERTY_SETTINGS
@given(params=valid_params(), data=st.data())
def test_params_file_mutated_document_is_valid_or_refused_unchanged(
    tmp_path: Path, params: StrategyParams, data: st.DataObject
) -> None:
    document = params.model_dump(mode="json")
    path_in_document = data.draw(st.sampled_from(list(json_paths(document))))
    mutation = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if mutation == "replace":
        document = replaced(document, path_in_document, data.draw(JSON_VALUES))
    elif mutation == "delete":
        document = deleted(document, path_in_document)
    else:
        document[data.draw(st.text(min_size=1, max_size=10).filter(lambda key: key not in document))] = 1
    path = tmp_path / "alice_latest_params.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    outcome = load_or_refuse(path, load_params)
    deleted_key = ".".join(map(str, path_in_document))
    if mutation == "delete" and deleted_key in KEYS_ADDED_LATER:
        # A key added later loads as its default (off), unless that breaks a cross-field rule.
        default = StrategyParams.model_fields[deleted_key].get_default(call_default_factory=True)
        if isinstance(outcome, StrategyParams):
            assert outcome == params.model_copy(update={deleted_key: default})
        else:
            assert "loss_pause_bars" in str(outcome)
    elif mutation == "delete" and isinstance(path_in_document[-1], int):  # an element of a list
        assert isinstance(outcome, StrategyParams)  # one flag fewer allowed
    elif mutation == "delete":
        assert str(outcome) == f"{path}: missing keys: {deleted_key}"
    elif mutation == "add":
        assert isinstance(outcome, SettingsError)
        assert str(outcome).endswith(": unknown key")
    elif isinstance(outcome, StrategyParams):
        market = document["market"]
        expected = document | {"market": market.strip().upper() if isinstance(market, str) else market}
        assert outcome.model_dump(mode="json") == expected


@PROPERTY_SETTINGS
@given(params=valid_params(), cut=st.integers(min_value=0))
def test_params_file_truncated_is_refused(tmp_path: Path, params: StrategyParams, cut: int) -> None:
    path = tmp_path / "alice_latest_params.json"
    save_params(path, params)
    text = path.read_text(encoding="utf-8").rstrip()
    path.write_text(text[: cut % len(text)], encoding="utf-8")
    assert isinstance(load_or_refuse(path, load_params), SettingsError)


@PROPERTY_SETTINGS
@given(conditions=valid_conditions(), data=st.data())
def test_conditions_file_mutated_document_is_valid_or_refused_unchanged(
    tmp_path: Path, conditions: Conditions, data: st.DataObject
) -> None:
    document = conditions.model_dump(mode="json")
    path_in_document = data.draw(st.sampled_from(list(json_paths(document))))
    if data.draw(st.booleans()):
        document = replaced(document, path_in_document, data.draw(JSON_VALUES))
    else:
        document = deleted(document, path_in_document)
    path = tmp_path / "alice_buy_sell_conditions.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    outcome = load_or_refuse(path, load_conditions)
    if isinstance(outcome, Conditions):
        assert outcome.model_dump(mode="json") == document


@PROPERTY_SETTINGS
@given(document=JSON_VALUES)
def test_conditions_file_any_json_document_loads_or_is_refused_with_one_line(
    tmp_path: Path, document: object
) -> None:
    path = tmp_path / "alice_buy_sell_conditions.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert isinstance(load_or_refuse(path, load_conditions), Conditions | SettingsError)


@FEW_EXAMPLES
@given(first=valid_params(), second=valid_params())
def test_params_save_then_load_round_trips_and_keeps_backup(
    tmp_path: Path, first: StrategyParams, second: StrategyParams
) -> None:
    path = tmp_path / "alice_latest_params.json"
    save_params(path, first)
    assert load_params(path) == first
    first_bytes = path.read_bytes()
    save_params(path, second)
    assert load_params(path) == second
    assert path.with_name(path.name + ".bak").read_bytes() == first_bytes
    assert sorted(item.name for item in tmp_path.iterdir()) == [path.name, path.name + ".bak"]
    path.with_name(path.name + ".bak").unlink()
    path.unlink()


@FEW_EXAMPLES
@given(conditions=valid_conditions())
def test_conditions_save_then_load_round_trips(tmp_path: Path, conditions: Conditions) -> None:
    path = tmp_path / "alice_buy_sell_conditions.json"
    save_conditions(path, conditions)
    assert load_conditions(path) == conditions


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000],
    ids=["nested-arrays", "nested-objects"],
)
def test_params_file_nested_too_deeply_is_refused_with_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "alice_latest_params.json"
    path.write_text(text, encoding="utf-8")
    outcome = load_or_refuse(path, load_params)
    assert str(outcome) == f"{path}: not valid JSON (nested too deeply)"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"foo\nbar": 1}, "'foo\\nbar': unknown key"),
        ({"market": "KRW-\nBTC"}, "market: 'KRW-\\nBTC' is not a KRW market code like KRW-BTC"),
    ],
    ids=["key-with-newline", "value-with-newline"],
)
def test_params_file_control_characters_are_escaped_in_the_one_line_message(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    path = tmp_path / "alice_latest_params.json"
    path.write_text(json.dumps(StrategyParams().model_dump(mode="json") | change), encoding="utf-8")
    assert str(load_or_refuse(path, load_params)) == f"{path}: {expected}"
