"""Exactly one engine per data directory: an exclusive `fcntl.flock` on `{home}/engine.lock`.

The lock is held for the life of the process and released by the kernel when it ends, however it
ends (SIGKILL included), so a stale lock file never blocks the next engine.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from tradebot.core.errors import TradebotError

LOCK_NAME = "engine.lock"


class EngineLockedError(TradebotError):
    """Another engine holds the lock of this data directory."""


class EngineLock:
    """The data directory's engine lock; `acquire()` refuses if another process holds it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_NAME
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._descriptor is not None

    def acquire(self) -> None:
        """Take the lock and write our pid in the file, or raise EngineLockedError."""
        if self._descriptor is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise EngineLockedError(f"another engine is running for {self.home} (pid {owner})") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor = descriptor

    def release(self) -> None:
        """Let the lock go (closing the descriptor releases the flock)."""
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> EngineLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
