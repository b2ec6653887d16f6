"""Issue 12 findings 1 and 2, black box: a LIVE user who already holds coins, against `tradebot simulator`.

The exchange is a separate `tradebot simulator --accounts FILE` process whose account starts with
5,000,000 KRW of BTC bought before the bot (Upbit shows such coins, like deposited ones, with an
average buy price of 0). The loop runs LIVE through entries, exits and a crash in the price; the
user's coins are never sold and the bot's position is only what its own orders bought.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tradebot.core.krw_rules import round_to_tick
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.exchange.upbit import RateLimitRegistry, UpbitSession
from tradebot.services.storage import open_user_store
from tradebot.services.user_admin import UpbitKeys, create_user, save_keys
from tradebot.services.users import conditions_path, params_path

from .conftest import NoWaitClock
from .crash_harness import wait_until

USER = "holder"
ACCESS = "blackbox-holder-access-key"
SECRET = "blackbox0holder0secret0for0tests0only000"  # noqa: S105 - a fake key for a fake server
OWN_BTC = Decimal("0.05")  # 5,000,000 KRW at the simulator's 100,000,000 KRW start price


@dataclass(frozen=True)
class SimulatorProcess:
    """A running `tradebot simulator` and its per-run admin token."""

    url: str
    admin_token: str


@pytest.fixture
def exchange_process(tmp_path: Path) -> Iterator[SimulatorProcess]:
    accounts = tmp_path / "accounts.json"
    balances = {"KRW": "1000000", "BTC": str(OWN_BTC)}
    accounts.write_text(json.dumps([{"access_key": ACCESS, "secret_key": SECRET, "balances": balances}]))
    command = [sys.executable, "-m", "tradebot", "simulator", "--port", "0", "--speed", "0",
               "--accounts", str(accounts), "--history-days", "1", "--markets", "KRW-BTC", "--seed", "3",
               "--no-rate-limits"]  # fmt: skip
    log = tmp_path / "simulator.out"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        assert wait_until(lambda: process.poll() is not None or "X-Admin-Token" in log.read_text(), 60)
        text = log.read_text()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", text)
        token = re.search(r"X-Admin-Token: (\S+)", text)
        assert url is not None, text
        assert token is not None, text
        yield SimulatorProcess(url.group(1), token.group(1))
    finally:
        process.terminate()
        process.wait(timeout=30)


class ExchangeClock:
    """The loop's clock: the simulator process's time as its last admin answer gave it."""

    def __init__(self) -> None:
        self.now_value = datetime(2000, 1, 1, tzinfo=UTC)
        self._monotonic = 0.0

    def now(self) -> datetime:
        return self.now_value

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self._monotonic += seconds


def _prepare_user(home: Path) -> None:
    create_user(home, USER, None, datetime.now(UTC))
    save_keys(home, USER, UpbitKeys(ACCESS, SECRET), datetime.now(UTC))
    params = json.loads(params_path(home, USER).read_text())
    params.update(
        interval="minute1", fast_period=3, slow_period=6, signal_period=3, warmup_bars=9,
        take_profit=0.01, stop_loss=0.01, trailing_stop=0.01, order_ratio=0.5,
    )  # fmt: skip
    params_path(home, USER).write_text(json.dumps(params))
    conditions = json.loads(conditions_path(home, USER).read_text())
    conditions["buy"] = {key: key == "bullish_candle" for key in conditions["buy"]}
    conditions_path(home, USER).write_text(json.dumps(conditions))


def _btc(admin: httpx.Client) -> Decimal:
    for account in admin.get("/_admin/accounts").json():
        if account["access_key"] == ACCESS:
            held = {item["currency"]: item for item in account["balances"]}
            return (
                Decimal(held["BTC"]["balance"]) + Decimal(held["BTC"]["locked"])
                if "BTC" in held
                else Decimal(0)
            )
    raise AssertionError("the account is gone")


def test_live_user_with_coins_bought_before_keeps_them_through_trades(
    exchange_process: SimulatorProcess, tmp_path: Path
) -> None:
    _prepare_user(tmp_path)
    headers = {"X-Admin-Token": exchange_process.admin_token}
    admin = httpx.Client(base_url=exchange_process.url, timeout=10, headers=headers)
    clock = ExchangeClock()
    clock.now_value = datetime.fromisoformat(
        admin.post("/_admin/clock/step", json={"seconds": 0}).json()["now"]
    )
    with ExitStack() as resources:
        session = resources.enter_context(
            UpbitSession(base_url=exchange_process.url, rate_limits=RateLimitRegistry(NoWaitClock()))
        )
        request = RunRequest(tmp_path, USER, "LIVE", exchange_process.url, live_confirmed=True)
        loop = build_loop(request, clock, resources, session=session)
        loop.start()  # finding 2: coins with an average buy price of 0 do not stop a LIVE start
        for minute in range(60):
            if minute % 7 == 6:  # a sharp fall now and then: the stop loss and trailing stop fire
                price = Decimal(admin.get("/_admin/state").json()["prices"]["KRW-BTC"]) * Decimal("0.97")
                admin.post(
                    "/_admin/price", json={"market": "KRW-BTC", "price": str(round_to_tick(price, up=False))}
                )
            answer = admin.post("/_admin/clock/step", json={"seconds": 60}).json()
            clock.now_value = datetime.fromisoformat(answer["now"])
            loop.cycle()
            with open_user_store(tmp_path, USER, create=False) as store:
                positions = store.positions("LIVE")
            bot = positions[0].volume if positions else Decimal(0)
            assert _btc(admin) - OWN_BTC >= bot  # finding 1: the bot's position is backed by its own buys
            assert _btc(admin) >= OWN_BTC  # and the user's 5,000,000 KRW of BTC is never sold
    with open_user_store(tmp_path, USER, create=False) as store:
        audits = store.trade_audits()
    admin.close()
    sides = {audit.side for audit in audits}
    assert sides == {"bid", "ask"}  # the bot did trade, both ways, next to the user's coins
    assert not [audit for audit in audits if audit.cause == "manual"]  # nothing of the user's adopted
