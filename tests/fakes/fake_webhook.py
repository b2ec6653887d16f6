"""A small webhook receiver for tests: real HTTP on 127.0.0.1, scripted status codes.

`POST /hooks/{secret}` records the JSON body and answers with the next scripted status (or 200).
A scripted `429` carries `Retry-After: 2`; `Hold` waits until `release()`. `outage = True` answers
`503` to everything until switched off.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.loopback_server import LoopbackServer

SECRET = "T000-B000-webhook-secret"  # noqa: S105 - a fake receiver's test path


@dataclass(frozen=True)
class Hold:
    pass


class FakeWebhook(LoopbackServer):
    """The receiver; `url` is the full secret webhook URL."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.outage = False
        self._script: deque[int | Hold] = deque()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/hooks/{secret}", self._receive, methods=["POST"])])
        super().__init__(app, "fake-webhook")

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/{SECRET}"

    def script(self, *answers: int | Hold) -> None:
        """Answer the next requests with these statuses (or holds), in order; then 200."""
        with self._lock:
            self._script.extend(answers)

    async def _receive(self, request: Request) -> PlainTextResponse:
        raw = (await request.body()).decode("utf-8")
        if request.path_params["secret"] != SECRET:
            return PlainTextResponse("no such hook", status_code=404)
        with self._lock:
            answer = 503 if self.outage else (self._script.popleft() if self._script else 200)
        if isinstance(answer, Hold):
            await self.wait_released()
            answer = 200
        if answer != 200:
            headers = {"Retry-After": "2"} if answer == 429 else None
            return PlainTextResponse("scripted", status_code=answer, headers=headers)
        with self._lock:
            self.bodies.append(json.loads(raw))
        return PlainTextResponse("ok")
