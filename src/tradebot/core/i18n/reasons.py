"""Evaluation reasons as a person reads them, in their language.

The database keeps each reason in one language-neutral grammar (what `core.strategy`,
`core.execution` and the engine write: `no entry: golden_cross, above_ma20 failed`, `exit:
stop_loss`, `paused: no new entries`, `protection:cooldown` …), so audits stay comparable across
users and versions. A reason is `; `-separated parts; each part that matches a known shape is
rewritten from the catalogue (`reason.*`), condition keys become their names (`condition.*.name`),
and a part of no known shape (an AI advisor's own words, an order's error name) is kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tradebot.core.i18n import Language, text, text_or

Rewrite = Callable[[re.Match[str], Language], str]
NUMBER = r"[0-9][0-9,]*"


def condition_names(keys: str, language: Language) -> str:
    """`golden_cross, above_ma20` → `Golden cross, Above MA20` (unknown keys kept)."""
    names = [text_or(f"condition.{key.strip()}.name", key.strip(), language) for key in keys.split(",")]
    return ", ".join(names)


def _fixed(key: str) -> Rewrite:
    return lambda match, language: text(f"reason.{key}", language, **match.groupdict())


def _with_conditions(key: str) -> Rewrite:
    return lambda match, language: text(key, language, conditions=condition_names(match["keys"], language))


def _protection(match: re.Match[str], language: Language) -> str:
    code = match["code"]
    name = text_or(f"reason.protection.{code}", f"protection:{code}", language)
    until = match.groupdict().get("until")
    if until is None:
        return name
    shape = "reason.protection_day" if match.groupdict().get("day") else "reason.protection_through"
    return text(shape, language, name=name, until=until)


def _safeguard(match: re.Match[str], language: Language) -> str:
    detail = match["detail"]
    if detail.startswith("caution:"):
        flag = detail.removeprefix("caution:")
        return text(
            "reason.safeguard_caution", language, flag=text_or(f"caution_flag.{flag}", flag, language)
        )
    return text_or(f"reason.safeguard.{detail}", match.group(0), language)


SHAPES: tuple[tuple[re.Pattern[str], Rewrite], ...] = (
    (re.compile(rf"warming up: (?P<seen>{NUMBER}) of (?P<total>{NUMBER}) candles"), _fixed("warming_up")),
    (re.compile(r"no entry: (?P<keys>[a-z0-9_, ]+) failed"), _with_conditions("reason.no_entry")),
    (re.compile(r"entry: (?P<keys>[a-z0-9_, ]+) held"), _with_conditions("reason.entry")),
    (re.compile(r"exit: (?P<keys>[a-z0-9_]+)"), _with_conditions("reason.exit")),
    (re.compile(r"no exit rule held"), _fixed("no_exit_rule")),
    (re.compile(r"no exit"), _fixed("no_exit")),
    (re.compile(r"indicator exits not yet allowed \(warming up\)"), _fixed("indicator_exits_warming")),
    (
        re.compile(
            rf"indicator exits not yet allowed \(held (?P<held>{NUMBER}) of (?P<needed>{NUMBER}) bars\)"
        ),
        _fixed("indicator_exits_holding"),
    ),
    (re.compile(r"paused: no new entries"), _fixed("paused")),
    (re.compile(r"one trade per candle: the position closed during this candle"), _fixed("one_per_candle")),
    (
        re.compile(r"not executed: the candle closed too long ago \(catching up after a pause\)"),
        _fixed("stale_candle"),
    ),
    (re.compile(r"advisor: no-go \((?P<why>.*)\)"), _fixed("advisor")),
    (
        re.compile(rf"below_min_order: budget (?P<budget>{NUMBER}) KRW is under (?P<minimum>{NUMBER}) KRW"),
        _fixed("below_min_order"),
    ),
    (
        re.compile(
            rf"below_min_exit: (?P<budget>{NUMBER}) KRW of coin would be worth (?P<value>-?{NUMBER}) KRW "
            rf"at its stop loss, under Upbit's (?P<minimum>{NUMBER}) KRW minimum: it could not be sold"
        ),
        _fixed("below_min_exit"),
    ),
    (
        re.compile(
            rf"dust: position worth (?P<value>-?{NUMBER}) KRW \(under (?P<minimum>{NUMBER}) KRW\) "
            r"written off, no order sent"
        ),
        _fixed("dust"),
    ),
    (re.compile(r"the coins stay in the wallet"), _fixed("coins_stay")),
    (
        re.compile(
            r"protection:(?P<code>[a-z_]+)(?:: no entry (?:through the candle of|until) "
            r"(?P<until>\d{4}-\d\d-\d\d \d\d:\d\d) KST(?P<day> \(end of the KST day\))?)?"
        ),
        _protection,
    ),
    (re.compile(r"safeguard:(?P<detail>[A-Za-z_:]+)(?: .*)?"), _safeguard),
)


def describe_reason(reason: str | None, language: Language) -> str:
    """`reason` in `language`; a part of no known shape is kept as written."""
    if not reason:
        return ""
    return "; ".join(_describe_part(part, language) for part in reason.split("; "))


def _describe_part(part: str, language: Language) -> str:
    for pattern, rewrite in SHAPES:
        match = pattern.fullmatch(part.strip())
        if match is not None:
            return rewrite(match, language)
    return part
