"""A small OpenAI-compatible server for tests: real HTTP on 127.0.0.1, scripted answers.

`POST /v1/chat/completions` takes the next scripted behaviour (or the default answer):

- `Answer(text, prompt_tokens, completion_tokens)`: a normal completion with usage;
- `Delay(seconds, then)`: waits (to trigger the client's timeout), then answers `then`;
- `Failure(status)`: an OpenAI-style error document with that status (429, 500, ...);
- `Malformed(body)`: a 200 whose body is not the expected JSON document.

Every request is recorded (body as JSON, headers) so tests can check what was sent. A waiting
`Delay` is released when the server stops, so stopping never waits for it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.loopback_server import LoopbackServer


@dataclass(frozen=True)
class Answer:
    text: str = "The rules held, so the bot bought."
    prompt_tokens: int = 1200
    completion_tokens: int = 80
    include_usage: bool = True


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Answer = field(default_factory=Answer)


@dataclass(frozen=True)
class Failure:
    status: int
    message: str = "scripted failure"


@dataclass(frozen=True)
class Malformed:
    body: str = '{"id": "chatcmpl-broken", "choices": [ {"message": '
    content_type: str = "application/json"


Behaviour = Answer | Delay | Failure | Malformed


@dataclass(frozen=True)
class RecordedRequest:
    body: dict[str, Any]
    headers: dict[str, str]
    raw: str


class FakeOpenAI(LoopbackServer):
    """The server; `start()` serves it in a daemon thread, `stop()` shuts it down."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.default: Behaviour = Answer()
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        super().__init__(app, "fake-openai")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these, in order; then the default."""
        with self._lock:
            self._script.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.default = Answer()

    def sent_text(self) -> str:
        """Everything every recorded request carried (bodies and headers), as one string."""
        with self._lock:
            return "\n".join(item.raw + json.dumps(item.headers) for item in self.requests)

    async def _complete(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8")
        with self._lock:
            self.requests.append(RecordedRequest(json.loads(raw), dict(request.headers), raw))
            behaviour = self._script.popleft() if self._script else self.default
        if isinstance(behaviour, Delay):
            deadline = time.monotonic() + behaviour.seconds
            while time.monotonic() < deadline and not self.released.is_set():
                await asyncio.sleep(0.01)
            behaviour = behaviour.then
        if isinstance(behaviour, Failure):
            error = {"message": behaviour.message, "type": "server_error", "param": None, "code": None}
            return JSONResponse({"error": error}, status_code=behaviour.status)
        if isinstance(behaviour, Malformed):
            return Response(behaviour.body, media_type=behaviour.content_type)
        return JSONResponse(_completion(behaviour, json.loads(raw).get("model", "unknown")))


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_770_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }
    if answer.include_usage:
        document["usage"] = {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        }
    return document
