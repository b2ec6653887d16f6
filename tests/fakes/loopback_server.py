"""A Starlette app served by uvicorn on 127.0.0.1 in a daemon thread, for the fake servers.

`hold()` makes a request handler wait until `release()` (or `stop()`), so tests can see what a
caller does while a server is slow, without measuring time.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette


class LoopbackServer:
    """Serve `app` on a free loopback port; use as a context manager."""

    def __init__(self, app: Starlette, name: str) -> None:
        self.name = name
        self._socket = _bind()
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", http="h11")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.released = threading.Event()
        self.holding = threading.Event()  # set while a handler waits in `wait_released`

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_released(self) -> None:
        """Called by a handler: wait until the test releases it (or the server stops)."""
        self.holding.set()
        while not self.released.is_set():
            await asyncio.sleep(0.01)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} server did not start")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        finally:
            self._socket.close()

    def stop(self) -> None:
        self.released.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _bind() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    return listener
