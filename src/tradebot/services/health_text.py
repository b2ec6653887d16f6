"""`tradebot health`'s text: one line per user, one per open position, and the engine's lines."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tradebot.services.health_monitor import PositionHealth, UserHealth, age_text
from tradebot.services.notifications.delivery_state import ChannelDelivery, DeliveryState


def format_user(user: UserHealth) -> str:
    """One line for `tradebot health`."""
    duration = "-" if user.cycle_duration_seconds is None else f"{user.cycle_duration_seconds:.2f}s"
    errors = "-" if user.consecutive_errors is None else str(user.consecutive_errors)
    line = (
        f"{user.username:<16} {user.state:<10} {user.mode:<4} "
        f"want={'run' if user.desired_running else 'off'} "
        f"heartbeat={age_text(user.heartbeat_age_seconds)} cycle={duration} errors={errors} "
        f"candle={_stamp(user.last_closed_candle)} fetch={_stamp(user.last_fetch_at)} "
        f"positions={user.open_positions}"
    )
    if user.last_error:
        line += f" last_error={user.last_error!r}"
    lines = [f"{line}  *** {user.alert} ***" if user.alert else line]
    lines.extend(format_position(item) for item in user.positions)
    lines.extend(f"  protection: {text}" for text in user.protections)
    if user.notifications is not None:
        lines.append(format_delivery(user.notifications))
    lines.extend(f"  upbit: {note}" for note in user.safeguards)
    if user.key_expires_at is not None:
        lines.append(f"  LIVE API key expires {user.key_expires_at.isoformat(timespec='minutes')}")
    return "\n".join(lines)


def format_delivery(state: DeliveryState) -> str:
    """The indented notifications lines of a user with a channel (an ALERT when delivery fails):
    the totals, then one line per channel."""
    line = (
        f"  notifications pending={state.pending} sent={state.sent} dead={state.dead} "
        f"dropped={state.dropped} oldest_pending={_stamp(state.oldest_pending_at)}"
    )
    if state.last_error:
        line += f" last_error({state.last_error_status})={state.last_error!r}"
    lines = [f"{line}  *** {state.alert} ***" if state.alert else line]
    lines.extend(format_channel(channel) for channel in state.channels)
    return "\n".join(lines)


def format_channel(channel: ChannelDelivery) -> str:
    """One channel's indented line: state, waiting rows, oldest waiting age, last sent, last error."""
    age = channel.oldest_pending_age_seconds
    line = (
        f"    {channel.channel:<8} {channel.state:<7} pending={channel.pending} "
        f"oldest_pending_age={'-' if age is None else f'{age:.0f}s'} last_sent={_stamp(channel.last_sent_at)}"
    )
    return f"{line} last_error={channel.last_error!r}" if channel.last_error else line


def format_position(position: PositionHealth) -> str:
    """One indented line per open position for `tradebot health`."""
    entry = position.entry_price or "unknown"
    line = (
        f"  position {position.mode:<4} {position.market:<10} volume={position.volume} entry={entry} "
        f"guarded_by={position.guarded_by}"
    )
    if position.problem:
        line += f" problem={position.problem!r}"
    return f"{line}  *** ALERT ***" if position.unguarded else line


def format_process(document: Mapping[str, Any] | None) -> list[str]:
    """The engine process and rate-group lines of a `health.json` document."""
    if document is None:
        return ["engine: no health file"]
    line = f"engine {document.get('engine_id', '?')} at {document.get('generated_at', '?')}"
    process = document.get("process")
    if isinstance(process, dict):
        line += (
            f": pid={process['pid']} rss={process['rss_bytes'] / 1_048_576:.1f}MiB "
            f"cpu={process['cpu_percent']:.1f}% uptime={process['uptime_seconds']:.0f}s "
            f"threads={process['threads']}"
        )
    lines = [line]
    for group, counts in dict(document.get("rate_groups") or {}).items():
        lines.append(
            f"  {group:<28} requests={counts['requests']} 429={counts['throttled']} 418={counts['blocked']}"
        )
    return lines


def _stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")
