"""Why an order is sent (its intent), and the intent an order recovered after a restart keeps.

The intent is stored with the order before it is sent (schema v4), so an order finished after a
restart or a lost answer is audited with the cause, rule, command and requester it was sent with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tradebot.services.records import Side, StoredOrder, TradeCause


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """Why an order is sent: the candle, the cause, the rule or command, the settings versions."""

    side: Side
    candle_start: datetime
    cause: TradeCause
    params_version: int
    conditions_version: int
    rule: str | None = None
    command_id: int | None = None
    requested_by: str | None = None
    note: str | None = None


RECOVERED = "finished after a restart or a lost answer"


def recovery_intent(order: StoredOrder, versions: tuple[int, int]) -> OrderIntent:
    """The intent the order was sent with (schema v4), or `recovery` for an order recorded before."""
    start = order.candle_start or order.requested_at
    if order.cause is None:
        return OrderIntent(order.side, start, "recovery", *versions, rule="recovery", note=RECOVERED)
    note = f"{order.note}; {RECOVERED}" if order.note else RECOVERED
    return OrderIntent(
        order.side, start, order.cause,
        order.params_version if order.params_version is not None else versions[0],
        order.conditions_version if order.conditions_version is not None else versions[1],
        rule=order.rule, command_id=order.command_id, requested_by=order.requested_by, note=note,
    )  # fmt: skip
