"""Telegram chat commands inside the engine: one user's `getUpdates` long poll, on its own thread.

Each round reads the user's channel settings (a `tradebot notify set` takes effect within a round),
asks the Bot API for updates after the last one seen (`offset`, a short long-poll timeout so a stop
is quick) and answers each message of the configured chat through `chat_commands.answer`. A message
from any other chat gets no answer and changes nothing; each foreign chat is logged once. Commands
that waited at Telegram before this poller started (sent while the engine was down) are not executed
late: the first round reads them without waiting and answers each one that it was dropped. Replies are
sent directly, not through the outbox: they answer a person who is waiting, and are worthless later.
Nothing here runs on the trading loop's thread, and no failure leaves this thread.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tradebot.core.clock import Clock, wait_until
from tradebot.engine.user_notifications import GatedStore, MayOpen, always
from tradebot.services.notifications.channels import TRANSPORT_ERRORS, DirectMessage, TelegramChannel, mask
from tradebot.services.notifications.chat_commands import answer, parse
from tradebot.services.notifications.config import Channels, load_channels
from tradebot.services.secrets import SecretBox
from tradebot.services.storage import Store

logger = logging.getLogger(__name__)
LONG_POLL_SECONDS = 2  # Telegram holds getUpdates this long when idle; bounds how long a stop waits
IDLE_SECONDS = 5.0  # no Telegram configured, or a failed round: look again after this
ROUND_PAUSE_SECONDS = 1.0  # between long polls: a server that answers at once is not hammered
DROPPED = "not done: sent while the engine was not running; send it again if you still want it"


class TelegramPoller:
    """One user's command poller: `poll_once()` is one round; it never raises."""

    def __init__(
        self,
        home: Path,
        username: str,
        clock: Clock,
        client: httpx.Client | None = None,
        may_open: MayOpen = always,
    ) -> None:
        self._home, self._username, self._clock, self._may_open = home, username, clock, may_open
        self._client = client or httpx.Client(follow_redirects=False)
        self._database = GatedStore(home, username, may_open)
        self._offset = 0
        self._started = False  # False until the first round read the updates waiting from before
        self._foreign: set[str] = set()
        self._problem: str | None = None

    def poll_once(self) -> float:
        """Read and answer new updates; the seconds to wait before the next round."""
        try:
            channels = load_channels(self.store, SecretBox.for_home(self._home))  # here, never at start
            if channels is None or not channels.telegram:
                return IDLE_SECONDS
            pause = self._poll(channels)
        except Exception as error:  # a database or channel fault is retried next round, said once
            self._close_store()
            self._say_once(str(error))
            return IDLE_SECONDS
        self._problem = None
        return pause

    @property
    def store(self) -> Store:
        """The user's database, opened on this thread on first use (never created; never once lost)."""
        return self._database.get()

    def _poll(self, channels: Channels) -> float:
        token, chat_id = channels.telegram_token or "", channels.settings.telegram_chat_id or ""
        base = f"{channels.settings.telegram_api_url.rstrip('/')}/bot{token}"
        wait = LONG_POLL_SECONDS if self._started else 0  # the first round only collects the backlog
        body = {"offset": self._offset, "timeout": wait, "allowed_updates": ["message"]}
        try:
            response = self._client.post(f"{base}/getUpdates", json=body, timeout=wait + 5)
            document = response.json()
        except (*TRANSPORT_ERRORS, ValueError) as error:
            self._say_once(mask(f"telegram getUpdates: {type(error).__name__}: {error}", (token, base)))
            return IDLE_SECONDS
        if response.status_code != 200 or not isinstance(document, dict) or document.get("ok") is not True:
            self._say_once(f"telegram getUpdates answered {response.status_code}")
            return IDLE_SECONDS
        reply = TelegramChannel(
            token=token, chat_id=chat_id, client=self._client, api_url=channels.settings.telegram_api_url
        )
        for update in document.get("result") or []:
            self._handle(update, chat_id, reply)
        self._started = True
        return ROUND_PAUSE_SECONDS

    def _handle(self, update: Any, chat_id: str, reply: TelegramChannel) -> None:
        """Answer one update from the configured chat; skip one already seen or from another chat."""
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return
        update_id = update["update_id"]
        if update_id < self._offset:  # Telegram drops confirmed updates; a lax server may not
            return
        self._offset = update_id + 1
        message = update.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return
        sender = str((message.get("chat") or {}).get("id", ""))
        if sender != chat_id:
            if sender not in self._foreign:  # once per chat: a stranger must not flood the log
                self._foreign.add(sender)
                logger.warning(
                    "%s: Telegram message from chat %s ignored (not the user's chat)", self._username, sender
                )
            return
        now = self._clock.now()
        if not self._started:  # a command from before this engine ran: never executed late
            text = DROPPED if parse(message["text"]) is not None else None
        else:
            text = self._answer(message["text"], now)
        if text is not None:
            delivery = reply.send(DirectMessage(text=text, created_at=now))
            if not delivery.delivered:
                logger.warning("%s: Telegram reply not delivered: %s", self._username, delivery.error)

    def _answer(self, text: str, now: datetime) -> str | None:
        """The reply to a command; a database fault is said to the person waiting, not kept silent."""
        try:
            return answer(self.store, self._username, text, now)
        except Exception as error:  # the user's database is the runner's to report; the chat is told
            self._close_store()
            logger.warning("%s: Telegram command not done: %s", self._username, error)
            return "not done: the bot's database could not be read or written just now; try again"

    def _say_once(self, problem: str) -> None:
        if problem != self._problem:
            self._problem = problem
            logger.warning("%s: Telegram commands not read for now: %s", self._username, problem)

    def _close_store(self) -> None:
        self._database.close()

    def close(self) -> None:
        """Close the HTTP client and the database connection (on the poller's thread)."""
        self._client.close()
        self._close_store()


class TelegramPollerThread:
    """Runs `TelegramPoller` rounds on a daemon thread until `stop()`."""

    def __init__(self, poller: TelegramPoller, clock: Clock, *, name: str) -> None:
        self._poller, self._clock = poller, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> TelegramPollerThread:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self, timeout_seconds: float = LONG_POLL_SECONDS + 8.0) -> None:
        """Stop after the current long poll (at most its timeout)."""
        self._stop.set()
        self._thread.join(timeout=timeout_seconds)

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self._poller.poll_once()
            wait_until(self._clock, self._stop, self._clock.monotonic() + pause)
        self._poller.close()


def start_telegram_poller(
    home: Path, username: str, clock: Clock, may_open: MayOpen = always
) -> TelegramPollerThread:
    """Start answering `username`'s Telegram chat commands; `stop()` it when the runner ends."""
    poller = TelegramPoller(home, username, clock, may_open=may_open)
    return TelegramPollerThread(poller, clock, name=f"telegram-{username}").start()
