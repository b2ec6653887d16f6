"""The order list and batch-cancel endpoints' parameters and filters (upbit-api.md §3.1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tradebot.exchange.simulator.accounts import SimAccount
from tradebot.exchange.simulator.errors import validation_error
from tradebot.exchange.simulator.formatting import nanos_to_utc
from tradebot.exchange.simulator.params import RequestParams
from tradebot.exchange.simulator.records import SimOrder

CLOSED_WINDOW = timedelta(days=7)
MAX_ID_LOOKUPS = 100
MAX_ID_CANCELS = 20


@dataclass(frozen=True, slots=True)
class Listing:
    """Filters and paging shared by the list endpoints."""

    market: str | None
    states: frozenset[str]
    ascending: bool
    limit: int
    page: int = 1


def integer(params: RequestParams, key: str, default: int, low: int, high: int) -> int:
    """An integer parameter within `[low, high]`."""
    text = params.first(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise validation_error(f"{key} does not have a valid value") from None
    if not low <= value <= high:
        raise validation_error(f"{key} must be between {low} and {high}")
    return value


def states_of(params: RequestParams, allowed: frozenset[str], default: frozenset[str]) -> frozenset[str]:
    """`state` or `states[]`, each one of `allowed`."""
    states = params.values("states") or params.values("state")
    for state in states:
        if state not in allowed:
            raise validation_error(f"state {state!r} does not have a valid value")
    return frozenset(states) or default


def ascending(params: RequestParams) -> bool:
    """`order_by=asc` (default `desc`)."""
    order_by = params.first("order_by") or "desc"
    if order_by not in ("asc", "desc"):
        raise validation_error("order_by does not have a valid value")
    return order_by == "asc"


def listing(
    params: RequestParams, allowed: frozenset[str], default: frozenset[str], max_limit: int
) -> Listing:
    """The common list filters of `params`."""
    return Listing(
        market=params.first("market"),
        states=states_of(params, allowed, default),
        ascending=ascending(params),
        limit=integer(params, "limit", 100, 1, max_limit),
        page=integer(params, "page", 1, 1, 1_000_000),
    )


def select(orders: Iterable[SimOrder], query: Listing) -> list[SimOrder]:
    """Orders passing the filters, sorted and paged."""
    chosen = [
        order
        for order in orders
        if order.state in query.states and (query.market is None or order.market == query.market)
    ]
    chosen.sort(key=lambda order: order.sequence, reverse=not query.ascending)
    start = (query.page - 1) * query.limit
    return chosen[start : start + query.limit]


def closed_window(params: RequestParams, now_ns: int) -> tuple[datetime, datetime]:
    """`start_time`/`end_time` (ISO-8601 or epoch ms); at most 7 days, default the last 7."""
    start = _moment(params.first("start_time"), "start_time")
    end = _moment(params.first("end_time"), "end_time")
    if start is None and end is None:
        end = nanos_to_utc(now_ns)
    if start is None:
        assert end is not None
        start = end - CLOSED_WINDOW
    if end is None:
        end = start + CLOSED_WINDOW
    if not start <= end <= start + CLOSED_WINDOW:
        raise validation_error("the time window must be at most 7 days, end_time after start_time")
    return start, end


def _moment(text: str | None, key: str) -> datetime | None:
    if text is None:
        return None
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        moment = datetime.fromisoformat(text.replace(" ", "+"))
    except (ValueError, OverflowError):
        raise validation_error(f"{key} does not have a valid value") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ids_of(params: RequestParams, most: int) -> tuple[str, list[str]]:
    """(`uuid` or `identifier`, the values) of `uuids[]` or `identifiers[]`, never both."""
    uuids, identifiers = params.values("uuids"), params.values("identifiers")
    if bool(uuids) == bool(identifiers):
        raise validation_error("give either uuids[] or identifiers[]")
    kind, values = ("uuid", uuids) if uuids else ("identifier", identifiers)
    if len(values) > most:
        raise validation_error(f"at most {most} {kind}s per request")
    return kind, values


def find(account: SimAccount, kind: str, value: str) -> SimOrder | None:
    """An order by uuid or identifier."""
    return account.find_order(value, None) if kind == "uuid" else account.find_order(None, value)


def batch_result(cancelled: list[SimOrder], failed: list[dict[str, object]]) -> dict[str, object]:
    """The `{success: {count, orders}, failed: {count, orders}}` answer of batch cancels."""
    orders = [_brief(order) for order in cancelled]
    return {
        "success": {"count": len(orders), "orders": orders},
        "failed": {"count": len(failed), "orders": failed},
    }


def _brief(order: SimOrder) -> dict[str, object]:
    brief: dict[str, object] = {"uuid": order.uuid, "market": order.market}
    if order.identifier is not None:
        brief["identifier"] = order.identifier
    return brief
