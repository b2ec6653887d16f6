"""A small Telegram Bot API server for tests: real HTTP on 127.0.0.1, scripted answers.

`POST /bot{token}/sendMessage` checks the token (401 otherwise, like Telegram), records the message
and answers with the next scripted behaviour (or `Accept()`):

- `Accept()`: `{"ok": true, "result": <Message>}`;
- `TooMany(retry_after)`: `429` with `parameters.retry_after`, as Telegram limits a flooding bot;
- `Failure(status, description)`: an error document (`400 chat not found`, `502`, ...);
- `Hold()`: waits until `release()`, then accepts (a channel slower than its client's timeout).

`outage = True` answers every request `502 Bad Gateway` until it is switched off (a scripted outage);
such requests are recorded in `refused`, not in `messages`. `POST /bot{token}/getUpdates` returns
what `push_update` queued (for chat commands later).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.loopback_server import LoopbackServer

TOKEN = "123456:TEST-bot-token-never-real"  # noqa: S105 - a fake server's test token


@dataclass(frozen=True)
class Accept:
    pass


@dataclass(frozen=True)
class TooMany:
    retry_after: int


@dataclass(frozen=True)
class Failure:
    status: int
    description: str = "Bad Gateway"


@dataclass(frozen=True)
class Hold:
    pass


Behaviour = Accept | TooMany | Failure | Hold


@dataclass(frozen=True)
class SentMessage:
    """One accepted sendMessage."""

    chat_id: str
    text: str
    disable_notification: bool
    raw: str


class FakeTelegram(LoopbackServer):
    """The fake Bot API; `start()` serves it, `stop()` shuts it down."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.messages: list[SentMessage] = []
        self.refused: list[str] = []
        self.requests = 0  # every sendMessage request with the right token, whatever its answer
        self.outage = False
        self._script: deque[Behaviour] = deque()
        self._updates: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        routes = [
            Route("/bot{token}/sendMessage", self._send_message, methods=["POST"]),
            Route("/bot{token}/getUpdates", self._get_updates, methods=["POST", "GET"]),
        ]
        super().__init__(Starlette(routes=routes), "fake-telegram")

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next sendMessage requests with these, in order; then accept."""
        with self._lock:
            self._script.extend(behaviours)

    def texts(self) -> list[str]:
        with self._lock:
            return [message.text for message in self.messages]

    def push_update(self, chat_id: int, text: str) -> None:
        """Queue an incoming chat message for getUpdates."""
        with self._lock:
            update_id = len(self._updates) + 1
            message = {"message_id": update_id, "chat": {"id": chat_id, "type": "private"}, "text": text}
            self._updates.append({"update_id": update_id, "message": message})

    async def _send_message(self, request: Request) -> JSONResponse:
        raw = (await request.body()).decode("utf-8")
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        with self._lock:
            self.requests += 1
            if self.outage:
                self.refused.append(raw)
                return _error(502, "Bad Gateway")
            behaviour = self._script.popleft() if self._script else Accept()
        if isinstance(behaviour, Hold):
            await self.wait_released()
        if isinstance(behaviour, TooMany):
            seconds = behaviour.retry_after
            return _error(429, f"Too Many Requests: retry after {seconds}", seconds)
        if isinstance(behaviour, Failure):
            return _error(behaviour.status, behaviour.description)
        body = json.loads(raw)
        with self._lock:
            silent = bool(body.get("disable_notification"))
            sent = SentMessage(str(body["chat_id"]), body["text"], silent, raw)
            self.messages.append(sent)
            message_id = len(self.messages)
        result = {"message_id": message_id, "chat": {"id": body["chat_id"]}, "date": 0, "text": body["text"]}
        return JSONResponse({"ok": True, "result": result})

    async def _get_updates(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        with self._lock:
            return JSONResponse({"ok": True, "result": list(self._updates)})


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    document: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        document["parameters"] = {"retry_after": retry_after}
    return JSONResponse(document, status_code=status)
