"""The audit tables as a person reads them: headers, decisions and reasons in their language.

The stored rows stay language-neutral (`services.audit_query` reads them as they are); this module
only relabels a frame for the screen and the CSV header. Condition columns are headed by the
condition's name, reasons are rewritten by `core.i18n.reasons`, and codes the catalogue does not
know are shown as stored.
"""

from __future__ import annotations

import pandas as pd

from tradebot.core.i18n import Language, text, text_or
from tradebot.core.i18n.reasons import describe_reason
from tradebot.core.params import BUY_CONDITION_KEYS, SELL_CONDITION_KEYS

CONDITION_COLUMNS = frozenset((*BUY_CONDITION_KEYS, *SELL_CONDITION_KEYS))
CODE_COLUMNS = ("decision", "side", "cause", "trigger_kind", "mode", "kind", "rule", "trigger_rule")


def column_label(name: str, language: Language) -> str:
    """The header of column `name`: a condition's name, else `audit.column.<name>`, else the name."""
    if name in CONDITION_COLUMNS:
        return text(f"condition.{name}.name", language)
    return text_or(f"audit.column.{name}", name, language)


def code_label(code: object, language: Language) -> object:
    """A stored code (`buy`, `hold`, `strategy`, `tick`, a condition key …) in words; others unchanged."""
    if not isinstance(code, str):
        return code
    if code in CONDITION_COLUMNS:
        return text(f"condition.{code}.name", language)
    return text_or(f"audit.code.{code}", code, language)


def labelled_frame(frame: pd.DataFrame, language: Language) -> pd.DataFrame:
    """`frame` with headers, codes and reasons for a person (a copy; the stored values are untouched)."""
    shown = frame.copy()
    for column in CODE_COLUMNS:
        if column in shown.columns:
            shown[column] = shown[column].map(lambda code: code_label(code, language))
    if "reason" in shown.columns:
        shown["reason"] = shown["reason"].map(
            lambda reason: describe_reason(reason, language) if isinstance(reason, str) else reason
        )
    return shown.rename(columns={name: column_label(str(name), language) for name in shown.columns})


def labelled_csv(frame: pd.DataFrame, language: Language) -> str:
    """CSV of `frame` with headers in `language` and the stored values as they are (machine-readable)."""
    headers = {name: column_label(str(name), language) for name in frame.columns}
    text_csv: str = frame.rename(columns=headers).to_csv(index=False)
    return text_csv
