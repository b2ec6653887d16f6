"""Admin endpoints for the WebSocket streams, behind the same admin token as `routes_admin`.

- `GET /_admin/streams`: open connections per endpoint, fault settings and counts;
- `PUT /_admin/streams/settings {"sample_seconds"?, "idle_seconds"?}`;
- `PUT /_admin/streams/faults {"duplicate_rate"?, "reorder_rate"?, "malformed_rate"?, "seed"?}`;
- `DELETE /_admin/streams/faults`: no message faults any more;
- `POST /_admin/streams/faults/next {"kind", "path"?, "count"?}`: fault the next messages;
- `POST /_admin/streams/drop {"path"?, "access_key"?}`: cut matching connections (no close frame);
- `POST /_admin/streams/stall {"seconds", "path"?, "access_key"?}`: matching connections send
  nothing for that long (what is queued meanwhile follows afterwards).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tradebot.exchange.simulator.routes_admin import admin_body, admin_only
from tradebot.exchange.simulator.stream_connection import StreamConnection
from tradebot.exchange.simulator.stream_faults import ScheduledStreamFault, StreamFaultSettings
from tradebot.exchange.simulator.stream_hub import StreamHub, StreamSettings
from tradebot.exchange.simulator.web import UpbitJSONResponse

MAX_STALL_SECONDS = 3600.0


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str | None = None
    access_key: str | None = None


class _Stall(_Target):
    seconds: float = Field(gt=0, le=MAX_STALL_SECONDS)


def _hub(request: Request) -> StreamHub:
    hub: StreamHub = request.app.state.streams
    return hub


def _targets(hub: StreamHub, target: _Target) -> list[StreamConnection]:
    return [
        connection
        for connection in hub.connections(target.path)
        if target.access_key is None or connection.info.access_key == target.access_key
    ]


async def statistics(request: Request) -> Response:
    """`GET /_admin/streams`."""
    hub = _hub(request)
    return UpbitJSONResponse({**hub.statistics(), "settings": hub.settings.model_dump()})


async def set_settings(request: Request) -> Response:
    """`PUT /_admin/streams/settings`: sampling interval and idle timeout."""
    hub = _hub(request)
    hub.settings = await admin_body(request, StreamSettings)
    return UpbitJSONResponse(hub.settings.model_dump())


async def set_faults(request: Request) -> Response:
    """`PUT /_admin/streams/faults`: random message faults from now on."""
    settings = await admin_body(request, StreamFaultSettings)
    _hub(request).faults.configure(settings)
    return UpbitJSONResponse(settings.model_dump())


async def clear_faults(request: Request) -> Response:
    """`DELETE /_admin/streams/faults`."""
    faults = _hub(request).faults
    faults.reset()
    return UpbitJSONResponse({"faults": faults.settings.model_dump(), "counts": faults.counts()})


async def schedule_fault(request: Request) -> Response:
    """`POST /_admin/streams/faults/next`."""
    fault = await admin_body(request, ScheduledStreamFault)
    _hub(request).faults.schedule(fault)
    return UpbitJSONResponse(fault.model_dump())


async def drop(request: Request) -> Response:
    """`POST /_admin/streams/drop`: matching connections are cut at once."""
    hub = _hub(request)
    targets = _targets(hub, await admin_body(request, _Target))
    for connection in targets:
        connection.drop()
    hub.faults.count("drop", len(targets))
    return UpbitJSONResponse({"dropped": len(targets)})


async def stall(request: Request) -> Response:
    """`POST /_admin/streams/stall`: matching connections go silent for `seconds`."""
    hub = _hub(request)
    wanted = await admin_body(request, _Stall)
    targets = _targets(hub, wanted)
    for connection in targets:
        connection.stall(wanted.seconds)
    hub.faults.count("stall", len(targets))
    return UpbitJSONResponse({"stalled": len(targets), "seconds": wanted.seconds})


ROUTES = [
    Route("/_admin/streams", admin_only(statistics), methods=["GET"]),
    Route("/_admin/streams/settings", admin_only(set_settings), methods=["PUT"]),
    Route("/_admin/streams/faults", admin_only(set_faults), methods=["PUT"]),
    Route("/_admin/streams/faults", admin_only(clear_faults), methods=["DELETE"]),
    Route("/_admin/streams/faults/next", admin_only(schedule_fault), methods=["POST"]),
    Route("/_admin/streams/drop", admin_only(drop), methods=["POST"]),
    Route("/_admin/streams/stall", admin_only(stall), methods=["POST"]),
]
