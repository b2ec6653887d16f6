"""What is sent to the model: instructions plus a JSON document of trading data, nothing else.

Every document is built field by field from trading records only: an evaluation row, the strategy
parameters and conditions (their known fields, re-read from `settings_history`), candles with
indicators recomputed by `core.indicators`, and statistics computed locally. No builder takes a
user, a key, a path or an environment, so none can carry a secret.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum

import numpy as np
from pydantic import ValidationError

from tradebot.core.advisor import AdvisorContext
from tradebot.core.i18n import Language
from tradebot.core.indicators import macd_arrays, sma_array
from tradebot.core.models import Candle
from tradebot.core.params import Conditions, StrategyParams
from tradebot.core.strategy import ConditionResult
from tradebot.services.records import BuyEvaluation, SellEvaluation, SettingsVersion

Message = dict[str, str]
RECENT_CANDLES = 20

SYSTEM = (
    "You help the user of tradebot, an automated MACD trading bot for Upbit KRW markets, understand "
    "its trading. The bot's fixed rules decide every trade; you never place orders, and nothing you "
    "suggest is applied automatically. Use only the data given and say when it is not enough. "
    "Prices and profits are in KRW; ratios are fractions (0.03 = 3%). Rules: the bot decides on closed "
    "candles. Entry (when flat, after warmup_bars candles): every enabled buy condition must hold "
    "(golden_cross: MACD crosses above signal; macd_positive / signal_positive: above macd_threshold; "
    "bullish_candle: close > open; macd_trending_up: MACD rose two candles running; above_ma20 / "
    "above_ma60: close above that average). Exit: the first enabled rule that holds, in order "
    "stop_loss, take_profit, trailing_stop (price rules, any time), then dead_cross, macd_negative, "
    "signal_negative (only after min_holding_bars)."
)
EXPLAIN_TASK = (
    "Explain this evaluation to the user in plain language, in at most 120 words: why the bot "
    "{verb} or did not, which enabled conditions held or failed (quote the values), and what would "
    "have had to be different for the opposite decision."
)
REVIEW_TASK = (
    "Review the user's trading over the period below, using the statistics the bot computed: trades, "
    "win rate, profit, which exit rules fired and which entry conditions failed most. Then suggest at "
    "most three parameter changes worth testing in a backtest (tradebot backtest --params FILE), each "
    "with its reason; say clearly that they are untested ideas and are not applied. At most 250 words."
)
# The explanation and the review are written in the user's language; the advisor's one-line reason
# is stored on the evaluation, so it stays in the language-neutral (English) grammar of the audit.
ANSWER_LANGUAGE: dict[Language, str] = {
    "en": "",
    "ko": (
        " Write your answer in Korean (한국어), with Upbit's Korean terms: 매수, 매도, 익절, 손절, "
        "트레일링 스탑, 골든크로스, 데드크로스, 원화 마켓."
    ),
}
ADVISOR_TASK = (
    "The rules want to buy on the candle below. Reply with only a JSON object "
    '{"go": true or false, "reason": "one short sentence"}. Answer false only for a clear reason '
    "visible in the data; if you are unsure, answer true. If you do not answer, the bot buys."
)


def plain(value: object) -> object:
    """`value` as JSON-ready data: Decimal as text, times as UTC ISO-8601, NaN as null."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float):
        return float(f"{value:.8g}") if math.isfinite(value) else None
    if isinstance(value, Decimal | datetime | ConditionResult):
        return _scalar(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    raise TypeError(f"no prompt form for {type(value).__name__}")


def _scalar(value: Decimal | datetime | ConditionResult) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {"enabled": value.enabled, "passed": value.passed, "value": plain(value.value)}


def evaluation_document(evaluation: BuyEvaluation | SellEvaluation) -> dict[str, object]:
    """Every field of an evaluation row (they are all trading data)."""
    return {item.name: plain(getattr(evaluation, item.name)) for item in fields(evaluation)}


def parse_params(version: SettingsVersion | None) -> StrategyParams | None:
    """The parameters a recorded version holds, or None (missing, or not readable by this version)."""
    try:
        return StrategyParams.model_validate_json(version.content) if version is not None else None
    except ValidationError:
        return None


def parse_conditions(version: SettingsVersion | None) -> Conditions | None:
    """The condition switches a recorded version holds, or None."""
    try:
        return Conditions.model_validate_json(version.content) if version is not None else None
    except ValidationError:
        return None


def settings_document(params: StrategyParams | None, conditions: Conditions | None) -> dict[str, object]:
    """The parameters and condition switches in force (None: that version is not recorded)."""
    return {
        "parameters": params.model_dump(mode="json") if params is not None else None,
        "conditions": conditions.model_dump(mode="json") if conditions is not None else None,
    }


def market_context(
    candles: Sequence[Candle], params: StrategyParams, recent: int = RECENT_CANDLES
) -> list[object]:
    """The last `recent` candles with MACD, signal, histogram, MA20 and MA60 recomputed over `candles`."""
    if not candles:
        return []
    close = np.array([candle.close for candle in candles], dtype=np.float64)
    lines = macd_arrays(close, params.fast_period, params.slow_period, params.signal_period)
    ma20, ma60 = sma_array(close, 20), sma_array(close, 60)
    points: list[object] = []
    for index in range(max(0, len(candles) - recent), len(candles)):
        candle = candles[index]
        point = {
            "start": candle.start,
            **{name: getattr(candle, name) for name in ("open", "high", "low", "close", "volume")},
            "macd": float(lines.macd[index]),
            "signal": float(lines.signal[index]),
            "hist": float(lines.hist[index]),
            "ma20": float(ma20[index]),
            "ma60": float(ma60[index]),
        }
        points.append(plain(point))
    return points


def explain_messages(
    table: str,
    evaluation: BuyEvaluation | SellEvaluation,
    settings: dict[str, object],
    recent: list[object],
    language: Language = "en",
) -> list[Message]:
    """The request explaining one `buy_eval` / `sell_eval` row, answered in `language`."""
    verb = "bought" if table == "buy_eval" else "sold"
    document = {
        "table": table,
        "evaluation": evaluation_document(evaluation),
        **settings,
        "recent_candles_oldest_first": recent,
        "note": "recent indicator values are recomputed from cached candles; the evaluation's own are exact",
    }
    return _messages(EXPLAIN_TASK.format(verb=verb) + ANSWER_LANGUAGE[language], document)


def review_messages(statistics: Mapping[str, object], language: Language = "en") -> list[Message]:
    """The request reviewing a period from its locally computed statistics, answered in `language`."""
    return _messages(REVIEW_TASK + ANSWER_LANGUAGE[language], {"statistics": plain(statistics)})


def advisor_messages(context: AdvisorContext, recent: list[object]) -> list[Message]:
    """The request asking for a go / no-go on one entry."""
    document = {
        "candle": plain(
            {"start": context.candle.start, "open": context.candle.open, "close": context.candle.close}
        ),
        "indicators": plain(
            {name: getattr(context.indicators, name) for name in ("macd", "signal", "hist", "ma20", "ma60")}
        ),
        "decision": {"action": context.decision.action.value, "reason": context.decision.reason},
        "conditions_checked": plain(context.decision.conditions),
        "buy_budget_krw": plain(context.budget_krw),
        **settings_document(context.params, context.conditions),
        "recent_candles_oldest_first": recent,
    }
    return _messages(ADVISOR_TASK, document)


def _messages(task: str, document: Mapping[str, object]) -> list[Message]:
    data = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{task}\n\nData:\n{data}"}]
