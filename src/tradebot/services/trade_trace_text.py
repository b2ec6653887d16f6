"""The trade trace as plain JSON values (`tradebot why --json`) and as text (`tradebot why`, the Trades tab).

Both come from one document, so the command, its JSON and the Audit Viewer say the same thing.
Money stays exact text (Decimal), times are UTC ISO (`...Z`) except the candle's start, which is
given in UTC and KST.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from tradebot.core.strategy import ConditionResult
from tradebot.services.records import SellEvaluation, SettingsVersion, Side
from tradebot.services.storage.codecs import KST
from tradebot.services.trade_trace import TradeTrace

SIDE_NAMES: dict[Side, str] = {"bid": "buy", "ask": "sell"}
NO_EVALUATION: dict[str, str] = {
    "force": "a force command placed it: no strategy evaluation decided it",
    "manual": "a manual change of the user's coins seen by the bot: no order, no evaluation",
    "recovery": "an order recorded before schema v4 kept no intent: only the recovery note is known",
}


def utc_text(moment: datetime | None) -> str | None:
    """`2026-03-10T07:00:00Z` (None stays None)."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def kst_text(moment: datetime | None) -> str | None:
    """`2026-03-10T16:00:00+09:00` (None stays None)."""
    return None if moment is None else moment.astimezone(KST).isoformat()


def _plain(value: object) -> object:
    """A JSON value: Decimals as exact text, times in UTC, enums by value, condition results as objects."""
    converted: object = value
    if isinstance(value, Decimal):
        converted = format(value, "f")
    elif isinstance(value, datetime):
        converted = utc_text(value)
    elif isinstance(value, timedelta):
        converted = value.total_seconds()
    elif isinstance(value, Enum):
        converted = value.value
    elif isinstance(value, ConditionResult):
        converted = {"enabled": value.enabled, "passed": value.passed, "value": value.value}
    elif isinstance(value, dict):
        converted = {str(key): _plain(item) for key, item in value.items()}
    return converted


def _fields(record: object, names: tuple[str, ...]) -> dict[str, object]:
    return {name: _plain(getattr(record, name)) for name in names}


ORDER_FIELDS = (
    "identifier", "uuid", "ord_type", "price", "volume", "state", "executed_volume", "average_price",
    "paid_fee", "error_name", "error_message", "requested_at", "updated_at",
)  # fmt: skip
FILL_FIELDS = ("executed_at", "fill_price", "volume", "fee", "realised_profit")
COMMAND_FIELDS = ("id", "kind", "requested_by", "requested_at", "args", "status", "result_message")
EVALUATION_FIELDS = ("evaluated_at", "price", "macd", "signal", "hist", "decision", "reason")
POSITION_FIELDS = (
    "entry_price", "peak_price", "stop_loss_price", "take_profit_price", "trailing_stop_price", "bars_held",
)  # fmt: skip


def trace_document(trace: TradeTrace) -> dict[str, object]:
    """The trace as plain JSON values (what `tradebot why --json` prints)."""
    return {
        "trade_id": trace.trade_id, "mode": trace.mode, "market": trace.market,
        "side": SIDE_NAMES[trace.side], "interval": _plain(trace.interval),
        "order": _fields(trace.order, ORDER_FIELDS) if trace.order is not None else None,
        "fill": _fields(trace.trade, FILL_FIELDS) if trace.trade is not None else None,
        "candle": _candle_document(trace),
        "cause": {
            "kind": trace.cause, "rule": trace.rule, "requested_by": trace.requested_by, "note": trace.note,
            "command": _fields(trace.command, COMMAND_FIELDS) if trace.command is not None else None,
        },
        "evaluation": _evaluation_document(trace),
        "settings": {
            "params_version": trace.params_version, "conditions_version": trace.conditions_version,
            "params": settings_values(trace.params), "conditions": settings_values(trace.conditions),
        },
    }  # fmt: skip


def _candle_document(trace: TradeTrace) -> dict[str, object] | None:
    if trace.candle_start is None:
        return None
    document: dict[str, object] = {
        "start_utc": utc_text(trace.candle_start), "start_kst": kst_text(trace.candle_start),
    }  # fmt: skip
    if trace.candle is not None:
        candle = trace.candle
        document.update(open=candle.open, high=candle.high, low=candle.low, close=candle.close)
    return document


def _evaluation_document(trace: TradeTrace) -> dict[str, object] | None:
    evaluation = trace.evaluation
    if evaluation is None:
        return {"missing": NO_EVALUATION.get(trace.cause or "recovery", "no evaluation row was found")}
    document: dict[str, object] = {"table": trace.evaluation_table}
    document.update(_fields(evaluation, EVALUATION_FIELDS))
    if isinstance(evaluation, SellEvaluation):
        document.update(trigger_kind=evaluation.trigger_kind, trigger_rule=evaluation.trigger_rule)
        document["position"] = _fields(evaluation, POSITION_FIELDS)
        document["conditions"] = _plain(evaluation.rules)
    else:
        document["conditions"] = _plain(evaluation.conditions)
    return document


def trace_lines(document: dict[str, Any]) -> list[str]:
    """The trace document as text, one fact per line (what `tradebot why` prints)."""
    lines = [_headline(document)]
    order, fill, candle = document["order"], document["fill"], document["candle"]
    if order is not None:
        lines.append(
            f"  order      {order['identifier']} (uuid {order['uuid'] or '-'}): {order['ord_type']}, "
            f"state {order['state']}, requested {order['requested_at']}"
            + (f", error {order['error_name']}: {order['error_message']}" if order["error_name"] else "")
        )
    if fill is not None:
        profit = fill["realised_profit"]
        lines.append(
            f"  fill       {fill['volume']} at {fill['fill_price']} KRW, fee {fill['fee']} KRW, "
            f"executed {fill['executed_at']}"
            + (f", realised profit {profit} KRW" if profit is not None else "")
        )
    if candle is not None:
        prices = " ".join(
            f"{name[0].upper()} {candle[name]}" for name in ("open", "high", "low", "close") if name in candle
        )
        lines.append(f"  candle     {candle['start_utc']} = {candle['start_kst']} KST {prices}".rstrip())
    lines.extend(_cause_lines(document["cause"]))
    lines.extend(_evaluation_lines(document["evaluation"]))
    lines.extend(_settings_lines(document["settings"]))
    return lines


def _headline(document: dict[str, Any]) -> str:
    what = f"trade #{document['trade_id']}" if document["trade_id"] is not None else "order (no fill)"
    interval = f" {document['interval']}" if document["interval"] else ""
    return f"{what}: {document['mode']} {document['side']} {document['market']}{interval}"


def _cause_lines(cause: dict[str, Any]) -> list[str]:
    kind = cause["kind"] or "not recorded (an order older than schema v4)"
    lines = [f"  cause      {kind}, rule {cause['rule'] or '-'}"]
    if cause["requested_by"]:
        lines.append(f"  requested  by {cause['requested_by']}")
    command = cause["command"]
    if command is not None:
        lines.append(
            f"  command    #{command['id']} {command['kind']} by {command['requested_by']} at "
            f"{command['requested_at']}: {command['status']} ({command['result_message'] or '-'}), "
            f"args {json.dumps(command['args'], ensure_ascii=False)}"
        )
    if cause["note"]:
        lines.append(f"  note       {cause['note']}")
    return lines


def _evaluation_lines(evaluation: dict[str, Any]) -> list[str]:
    if "missing" in evaluation:
        return [f"  evaluation none: {evaluation['missing']}"]
    trigger = f" ({evaluation['trigger_kind']})" if "trigger_kind" in evaluation else ""
    lines = [
        f"  evaluation {evaluation['table']}{trigger} at {evaluation['evaluated_at']}: "
        f"{evaluation['decision']}: {evaluation['reason']}",
        f"             price {evaluation['price']}, MACD {evaluation['macd']}, "
        f"signal {evaluation['signal']}, hist {evaluation['hist']}",
    ]
    if "position" in evaluation:
        position = ", ".join(f"{name} {value}" for name, value in evaluation["position"].items())
        lines.append(f"             position: {position}")
    for key, result in evaluation["conditions"].items():
        enabled = "enabled " if result["enabled"] else "disabled"
        passed = "passed" if result["passed"] else "FAILED"
        lines.append(f"    {key:<24} {enabled} {passed:<6} value {result['value']}")
    return lines


def _settings_lines(settings: dict[str, Any]) -> list[str]:
    lines = [
        f"  settings   params v{settings['params_version']}, conditions v{settings['conditions_version']}"
    ]
    for kind in ("params", "conditions"):
        values = settings[kind]
        if values is None:
            lines.append(f"    {kind}: not recorded")
            continue
        lines.extend(
            f"    {name} = {json.dumps(value, ensure_ascii=False)}" for name, value in _flat(kind, values)
        )
    return lines


def settings_values(version: SettingsVersion | None) -> dict[str, object] | None:
    """A recorded settings version's values as stored (old versions read as they were saved)."""
    if version is None:
        return None
    values: dict[str, object] = json.loads(version.content)
    return values


def _flat(prefix: str, values: dict[str, Any]) -> list[tuple[str, object]]:
    """`conditions.buy.golden_cross`-style names for nested settings (one line per switch)."""
    flat: list[tuple[str, object]] = []
    for name, value in values.items():
        if isinstance(value, dict):
            flat.extend(_flat(f"{prefix}.{name}", value))
        else:
            flat.append((f"{prefix}.{name}", value))
    return flat
