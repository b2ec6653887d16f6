"""Contract tests: the real Upbit client against the simulator over HTTP on 127.0.0.1.

Every check here is something upbit-api.md documents for api.upbit.com: paths, shapes, status
codes, headers, JWT rules, order arithmetic (§3.5's recorded fills to the last digit), rate
limits and the client's recovery from faults. Simulated time only moves through the admin step
endpoint; the only real waiting is HTTP itself and one deliberate client timeout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.unit.exchange import LIMIT_BID_CREATED, MARKET_BUY_CREATED, MARKET_BUY_FINAL, MARKET_SELL_FINAL
from tradebot.core.models import Interval
from tradebot.exchange.upbit import (
    Credentials,
    OrderRequest,
    OrderSide,
    OrderState,
    OrderStateUnknownError,
    Signer,
    TimeInForce,
    UpbitAuthError,
    UpbitBlockedError,
    UpbitClientError,
    UpbitConnectionError,
    UpbitNotFoundError,
    UpbitOrderRejectedError,
    UpbitResponseError,
    UpbitServerError,
    UpbitThrottledError,
    UpbitTimeoutError,
    new_order_identifier,
)
from tradebot.marketdata.candle_writers import save_candles
from tradebot.marketdata.synthetic import generate_candles

from .conftest import (
    ACCESS_KEY,
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    SECRET_KEY,
    STARTING_BTC,
    STARTING_KRW,
    ManualTimer,
    NoWaitClock,
    Simulator,
    SimulatorFactory,
)

FEE = Decimal("0.0005")
WRONG_SECRET = "wrong0secret0000000000000000000000000000"  # noqa: S105 - a deliberately wrong key
JSON_TYPE = "application/json;charset=UTF-8"


# --- helpers ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(claims: dict[str, object], secret: str = SECRET_KEY, algorithm: str = "HS512") -> str:
    """A JWT built by hand, independent of PyJWT, so tests can also build broken ones."""
    header = _b64(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    digests = {"HS256": hashlib.sha256, "HS512": hashlib.sha512, "HS384": hashlib.sha384}
    signed = f"{header}.{payload}".encode()
    signature = (
        _b64(hmac.new(secret.encode(), signed, digests[algorithm]).digest()) if algorithm in digests else ""
    )
    return f"{header}.{payload}.{signature}"


def claims_for(hashed: str = "", access_key: str = ACCESS_KEY, **extra: object) -> dict[str, object]:
    claims: dict[str, object] = {"access_key": access_key, "nonce": str(uuid.uuid4())}
    if hashed:
        claims.update(query_hash=hashlib.sha512(hashed.encode()).hexdigest(), query_hash_alg="SHA512")
    claims.update(extra)
    return claims


def bearer(hashed: str = "", **extra: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(claims_for(hashed, **extra))}"}


def post_order(http: httpx.Client, body: dict[str, str]) -> httpx.Response:
    """POST /v1/orders with exactly `body`, signed as Upbit documents (§4.2)."""
    hashed = "&".join(f"{key}={value}" for key, value in body.items())
    return http.post("/v1/orders", content=json.dumps(body), headers=bearer(hashed))


def signed_get(http: httpx.Client, path: str, query: str = "") -> httpx.Response:
    return http.get(f"{path}?{query}" if query else path, headers=bearer(query))


def error_of(response: httpx.Response) -> tuple[int, object]:
    document = response.json()
    assert set(document) == {"error"}
    assert set(document["error"]) == {"name", "message"}
    return response.status_code, document["error"]["name"]


def recorded(body: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(body)
    return document


def without(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in keys}


def current_price(simulator: Simulator, market: str = "KRW-BTC") -> Decimal:
    with simulator.quotation_client() as client:
        return client.get_tickers([market])[0].trade_price


# --- quotation -------------------------------------------------------------------------------


def test_market_all_with_and_without_details(simulator: Simulator) -> None:
    with simulator.quotation_client() as client:
        markets = client.list_markets(details=True)
    assert [market.market for market in markets] == ["KRW-BTC", "KRW-ETH"]
    assert markets[0].korean_name == "비트코인"
    assert markets[0].warning is False
    plain = simulator.http().get("/v1/market/all", params={"isDetails": "false"}).json()
    assert plain[0] == {"market": "KRW-BTC", "korean_name": "비트코인", "english_name": "Bitcoin"}


def test_minute_candles_newest_first_with_upbit_fields(simulator: Simulator) -> None:
    http = simulator.http()
    single = http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC"}).json()
    assert len(single) == 1  # count defaults to 1
    candles = http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": "5"}).json()
    assert list(candles[0]) == [
        "market",
        "candle_date_time_utc",
        "candle_date_time_kst",
        "opening_price",
        "high_price",
        "low_price",
        "trade_price",
        "timestamp",
        "candle_acc_trade_price",
        "candle_acc_trade_volume",
        "unit",
    ]
    starts = [candle["candle_date_time_utc"] for candle in candles]
    assert starts == [f"2026-03-22T12:{minute}:00" for minute in (47, 46, 45, 44, 43)]
    assert candles[0]["candle_date_time_kst"] == "2026-03-22T21:47:00"
    assert isinstance(candles[0]["trade_price"], float)
    assert candles[0]["unit"] == 1
    too_many = http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": "900"}).json()
    assert len(too_many) == 200


@pytest.mark.parametrize(
    "to",
    [
        "2026-03-22T12:40:00Z",
        "2026-03-22 12:40:00",
        "2026-03-22T21:40:00+09:00",
        "2026-03-22T12:39:30Z",
    ],
)
def test_candle_to_is_exclusive_in_every_documented_form(simulator: Simulator, to: str) -> None:
    candles = simulator.http().get(
        "/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": "2", "to": to}
    )
    starts = [candle["candle_date_time_utc"] for candle in candles.json()]
    assert starts == ["2026-03-22T12:39:00", "2026-03-22T12:38:00"]


def test_candle_to_as_pyupbit_and_unescaped_plus_send_it(simulator: Simulator) -> None:
    http = simulator.http()
    # pyupbit: a space encoded as `+`; a careless client: `+09:00` not escaped, so `+` is a space.
    for raw in ("to=2026-03-22+12%3A40%3A00", "to=2026-03-22T21:40:00+09:00"):
        candles = http.get(f"/v1/candles/minutes/1?market=KRW-BTC&{raw}").json()
        assert candles[0]["candle_date_time_utc"] == "2026-03-22T12:39:00"


def test_client_pages_candles_across_requests(simulator: Simulator) -> None:
    with simulator.quotation_client() as client:
        candles = client.get_candles("KRW-BTC", Interval.MINUTE1, 450)
    assert len(candles) == 450
    assert all(
        later.start - earlier.start == timedelta(minutes=1) for earlier, later in itertools.pairwise(candles)
    )
    assert candles[-1].start == datetime(2026, 3, 22, 12, 47, tzinfo=UTC)


def test_aggregated_candles_agree_with_one_minute_candles(simulator: Simulator) -> None:
    http = simulator.http()
    minutes = http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": "10"}).json()
    fives = http.get("/v1/candles/minutes/5", params={"market": "KRW-BTC", "count": "2"}).json()
    # 12:45 (in progress: 12:45-12:47) and 12:40-12:44.
    assert [candle["candle_date_time_utc"] for candle in fives] == [
        "2026-03-22T12:45:00",
        "2026-03-22T12:40:00",
    ]
    for five, members in ((fives[0], minutes[0:3]), (fives[1], minutes[3:8])):
        assert five["opening_price"] == members[-1]["opening_price"]
        assert five["trade_price"] == members[0]["trade_price"]
        assert five["high_price"] == max(candle["high_price"] for candle in members)
        assert five["low_price"] == min(candle["low_price"] for candle in members)
        volume = sum(candle["candle_acc_trade_volume"] for candle in members)
        assert five["candle_acc_trade_volume"] == pytest.approx(volume)
    days = http.get("/v1/candles/days", params={"market": "KRW-BTC", "count": "2"}).json()
    assert days[0]["candle_date_time_utc"] == "2026-03-22T00:00:00"
    assert days[0]["candle_date_time_kst"] == "2026-03-22T09:00:00"
    assert days[0]["prev_closing_price"] == days[1]["trade_price"]
    assert days[0]["change_price"] == pytest.approx(days[0]["trade_price"] - days[1]["trade_price"])
    week = http.get("/v1/candles/weeks", params={"market": "KRW-BTC"}).json()[0]
    assert week["candle_date_time_utc"] == "2026-03-16T00:00:00"
    assert week["first_day_of_period"] == "2026-03-16"
    month = http.get("/v1/candles/months", params={"market": "KRW-BTC"}).json()[0]
    assert month["first_day_of_period"] == "2026-03-01"


def test_candles_ticker_and_orderbook_tell_one_price(simulator: Simulator) -> None:
    with simulator.quotation_client() as client:
        ticker = client.get_tickers(["KRW-BTC"])[0]
        book = client.get_orderbooks(["KRW-BTC"])[0]
        instrument = client.get_instruments(["KRW-BTC"])[0]
        candle = client.get_candles("KRW-BTC", Interval.MINUTE1, 1)[0]
    assert Decimal(repr(candle.close)) == ticker.trade_price == book.units[0].bid_price
    assert instrument.tick_size == Decimal(1000)
    assert len(book.units) == 30
    asks = [unit.ask_price for unit in book.units]
    bids = [unit.bid_price for unit in book.units]
    assert asks[0] == bids[0] + 1000
    assert asks == sorted(asks)
    assert bids == sorted(bids, reverse=True)
    assert all(price % 1000 == 0 for price in asks + bids)
    assert book.total_ask_size == pytest.approx(sum(unit.ask_size for unit in book.units))


def test_stepping_the_clock_moves_the_market(simulator: Simulator) -> None:
    with simulator.quotation_client() as client:
        before = client.get_tickers(["KRW-BTC"])[0]
        simulator.step(120)
        after = client.get_tickers(["KRW-BTC"])[0]
        newest = client.get_candles("KRW-BTC", Interval.MINUTE1, 1)[0]
    assert after.timestamp - before.timestamp == timedelta(seconds=120)
    assert newest.start == datetime(2026, 3, 22, 12, 49, tzinfo=UTC)
    assert Decimal(repr(newest.close)) == after.trade_price


def test_replayed_file_keeps_its_gaps(simulator_factory: SimulatorFactory, tmp_path: Any) -> None:
    series = generate_candles(600, interval=Interval.MINUTE1, seed=11, gap_probability=0.3)
    path = tmp_path / "KRW-BTC_minute1_gaps.csv"
    save_candles(series, path, market="KRW-BTC")
    simulator = simulator_factory(data=[path], start=None, replay_warmup=300, markets=["KRW-BTC"])
    with simulator.quotation_client() as client:
        candles = client.get_candles("KRW-BTC", Interval.MINUTE1, 250)
    served = [int(candle.start.timestamp()) for candle in candles]
    in_file = [int(start // 10**9) for start in series.start_ns[51:301]]
    assert served == in_file  # the file's own minutes: gaps stay gaps, nothing zero-filled
    assert any(later - earlier > 60 for earlier, later in itertools.pairwise(served))


def test_coarse_replay_refuses_finer_candles(simulator_factory: SimulatorFactory, tmp_path: Any) -> None:
    path = tmp_path / "KRW-ETH_minute15.parquet"
    save_candles(generate_candles(400, interval=Interval.MINUTE15, seed=3), path, market="KRW-ETH")
    simulator = simulator_factory(data=[path], start=None, markets=["KRW-ETH"])
    http = simulator.http()
    assert error_of(http.get("/v1/candles/minutes/5", params={"market": "KRW-ETH"})) == (400, 400)
    hourly = http.get("/v1/candles/minutes/60", params={"market": "KRW-ETH", "count": "3"}).json()
    assert len(hourly) == 3


def test_quotation_errors_have_integer_names(simulator: Simulator) -> None:
    with simulator.quotation_client() as client, pytest.raises(UpbitNotFoundError) as unknown:
        client.get_candles("KRW-NOPE", Interval.MINUTE1, 1)
    assert unknown.value.name == 404
    assert unknown.value.message == "Code not found"
    http = simulator.http()
    assert error_of(http.get("/v1/candles/minutes/1")) == (400, 400)
    assert error_of(http.get("/v1/ticker", params={"markets": "KRW-BTC,KRW-NOPE"})) == (404, 404)
    assert error_of(http.get("/v1/orderbook", params={"markets": "KRW-BTC", "level": "10000"})) == (400, 400)
    assert error_of(http.get("/v1/candles/minutes/7", params={"market": "KRW-BTC"})) == (400, 400)
    assert error_of(http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "count": "x"})) == (
        400,
        400,
    )
    assert error_of(http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC", "to": "soon"})) == (
        400,
        400,
    )


def test_ticker_takes_comma_lists_and_repeated_keys(simulator: Simulator) -> None:
    http = simulator.http()
    comma = http.get("/v1/ticker?markets=KRW-BTC,KRW-ETH").json()
    repeated = http.get("/v1/ticker?markets=KRW-BTC&markets=KRW-ETH").json()
    assert (
        [item["market"] for item in comma] == [item["market"] for item in repeated] == ["KRW-BTC", "KRW-ETH"]
    )
    everything = http.get("/v1/ticker/all", params={"quote_currencies": "KRW"}).json()
    assert {item["market"] for item in everything} == {"KRW-BTC", "KRW-ETH"}
    assert comma[0]["change"] in ("RISE", "EVEN", "FALL")
    assert comma[0]["trade_date_kst"] == "20260322"
    assert comma[0]["trade_time_kst"] == "214708"


def test_trades_ticks_newest_first_with_cursor(simulator: Simulator) -> None:
    http = simulator.http()
    first = http.get("/v1/trades/ticks", params={"market": "KRW-BTC", "count": "3"}).json()
    assert len(first) == 3
    assert first[0]["timestamp"] > first[1]["timestamp"] > first[2]["timestamp"]
    cursor = str(first[-1]["sequential_id"])
    older = http.get("/v1/trades/ticks", params={"market": "KRW-BTC", "count": "2", "cursor": cursor}).json()
    assert older[0]["timestamp"] < first[-1]["timestamp"]
    yesterday = http.get(
        "/v1/trades/ticks", params={"market": "KRW-BTC", "count": "2", "days_ago": "1"}
    ).json()
    assert all(item["trade_date_utc"] == "2026-03-21" for item in yesterday)


def test_quotation_headers(simulator_factory: SimulatorFactory) -> None:
    simulator = simulator_factory(rate_timer=ManualTimer())  # no window may end between requests
    http = simulator.http()
    seen = [http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC"}) for _ in range(3)]
    assert [response.headers["Remaining-Req"] for response in seen] == [
        f"group=candles; min=600; sec={remaining}" for remaining in (9, 8, 7)
    ]
    assert all(response.headers["Limit-By-Ip"] == "Yes" for response in seen)
    assert seen[0].headers["Content-Type"] == JSON_TYPE
    failed = http.get("/v1/ticker", params={"markets": "KRW-NOPE"})
    assert failed.headers["Remaining-Req"].startswith("group=ticker; min=600; sec=")


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["HS256", "HS512"])
def test_both_signing_algorithms_are_accepted(simulator: Simulator, algorithm: Any) -> None:
    with simulator.exchange_client(algorithm=algorithm) as client:
        accounts = client.get_accounts()
    assert {(account.currency, account.balance) for account in accounts} == {
        ("KRW", STARTING_KRW),
        ("BTC", STARTING_BTC),
    }


def test_reused_nonce_is_refused(simulator: Simulator) -> None:
    signer = Signer(Credentials(ACCESS_KEY, SECRET_KEY), nonce_factory=lambda: "always-the-same")
    http = simulator.http()
    headers = {"Authorization": signer.authorization("")}
    assert http.get("/v1/accounts", headers=headers).status_code == 200
    again = http.get("/v1/accounts", headers={"Authorization": signer.authorization("")})
    assert error_of(again) == (401, "nonce_used")


def test_jwt_failures_get_upbit_auth_errors(simulator: Simulator) -> None:
    http = simulator.http()
    query = "market=KRW-BTC"

    def ask(headers: dict[str, str]) -> tuple[int, object]:
        return error_of(http.get(f"/v1/orders/chance?{query}", headers=headers))

    assert ask({}) == (401, "no_authorization_token")
    assert ask({"Authorization": "Bearer not.a.token"}) == (401, "jwt_verification")
    assert ask({"Authorization": "Basic abc"}) == (401, "jwt_verification")
    wrong_secret = make_token(claims_for(query), secret=WRONG_SECRET)
    assert ask({"Authorization": f"Bearer {wrong_secret}"}) == (401, "jwt_verification")
    unknown_key = make_token(claims_for(query, access_key="nobody"))
    assert ask({"Authorization": f"Bearer {unknown_key}"}) == (401, "invalid_access_key")
    for algorithm in ("HS384", "none"):
        token = make_token(claims_for(query), algorithm=algorithm)
        assert ask({"Authorization": f"Bearer {token}"}) == (401, "jwt_verification")
    assert ask(bearer("market=KRW-ETH")) == (401, "invalid_query_payload")
    assert ask(bearer("")) == (401, "invalid_query_payload")  # parameters but no query_hash
    no_nonce = make_token({"access_key": ACCESS_KEY, **without(claims_for(query), "access_key", "nonce")})
    assert ask({"Authorization": f"Bearer {no_nonce}"}) == (401, "jwt_verification")
    hash_without_params = http.get("/v1/accounts", headers=bearer("market=KRW-BTC"))
    assert error_of(hash_without_params) == (401, "invalid_query_payload")
    assert hash_without_params.headers["Remaining-Req"].startswith("group=default; min=1800; sec=")


def test_client_raises_auth_error_for_a_wrong_key(simulator: Simulator) -> None:
    with (
        simulator.exchange_client(secret_key=WRONG_SECRET) as client,
        pytest.raises(UpbitAuthError) as refused,
    ):
        client.get_accounts()
    assert refused.value.name == "jwt_verification"
    assert refused.value.status == 401


# --- request forms other clients send (§9, §11.3) ---------------------------------------------


def test_pyupbit_style_get_with_form_body(simulator: Simulator) -> None:
    form = {"market": "KRW-BTC"}
    hashed = urlencode(form, doseq=True).replace("%5B%5D=", "[]=")
    response = simulator.http().request(
        "GET",
        "/v1/orders/chance",
        content=urlencode(form),
        headers={**bearer(hashed), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["market"]["id"] == "KRW-BTC"


def test_delete_with_json_body_and_bracket_arrays(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        first = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "form-1")
        )
        second = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "form-2")
        )
    http = simulator.http()
    # pyupbit's cancel_order: DELETE with a JSON body and no query string.
    body = {"uuid": first.uuid}
    cancelled = http.request("DELETE", "/v1/order", content=json.dumps(body), headers=bearer(urlencode(body)))
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "wait"
    # The official SDK: percent-encoded brackets on the wire, the unescaped form hashed.
    raw = f"uuids%5B%5D={first.uuid}&uuids%5B%5D={second.uuid}"
    listed = http.get(
        f"/v1/orders/uuids?{raw}", headers=bearer(f"uuids[]={first.uuid}&uuids[]={second.uuid}")
    )
    assert {item["uuid"] for item in listed.json()} == {first.uuid, second.uuid}
    assert {item["state"] for item in listed.json()} == {"cancel", "wait"}


# --- balances and order rules ------------------------------------------------------------------


def test_order_chance_reports_fees_rules_and_balances(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        chance = client.get_order_chance("KRW-BTC")
    assert chance.bid_fee == chance.ask_fee == FEE
    assert chance.market.bid_min_total == chance.market.ask_min_total == Decimal(5000)
    assert chance.market.max_total == Decimal(1_000_000_000)
    assert chance.bid_account.balance == STARTING_KRW
    assert chance.ask_account.balance == STARTING_BTC


def test_limit_bid_lifecycle_matches_the_recording(simulator: Simulator) -> None:
    http = simulator.http()
    body = {"market": "KRW-BTC", "side": "bid", "volume": "0.0005", "price": "10000000", "ord_type": "limit"}
    created = post_order(http, body)
    assert created.status_code == 201
    assert created.headers["Remaining-Req"] == "group=order; min=480; sec=7"
    expected = recorded(LIMIT_BID_CREATED)
    document = created.json()
    assert list(document) == list(expected)
    assert without(document, "uuid", "created_at") == without(expected, "uuid", "created_at")
    assert document["created_at"] == "2026-03-22T21:47:08+09:00"
    order_uuid = document["uuid"]
    fetched = signed_get(http, "/v1/order", f"uuid={order_uuid}").json()
    assert fetched == {**document, "trades": []}
    assert simulator.balances()["KRW"] == {
        "balance": STARTING_KRW - Decimal("5002.5"),
        "locked": Decimal("5002.5"),
    }
    query = f"uuid={order_uuid}"
    deleted = http.delete(f"/v1/order?{query}", headers=bearer(query))
    assert deleted.json() == document  # the snapshot from before the cancel, still `wait`
    assert signed_get(http, "/v1/order", f"uuid={order_uuid}").json()["state"] == "cancel"
    assert simulator.balances()["KRW"] == {"balance": STARTING_KRW, "locked": Decimal(0)}


def test_recorded_market_buy_and_sell_to_the_last_digit(simulator: Simulator) -> None:
    # §3.5: a 10,000 KRW market buy filled at 102,945,000 and the sell at 102,902,000.
    simulator.set_price("KRW-BTC", "102902000", bid="102902000", ask="102945000")
    http = simulator.http()
    buy = post_order(http, {"market": "KRW-BTC", "side": "bid", "price": "10000", "ord_type": "price"})
    assert buy.status_code == 201
    assert without(buy.json(), "uuid") == without(recorded(MARKET_BUY_CREATED), "uuid")
    final = signed_get(http, "/v1/order", f"uuid={buy.json()['uuid']}").json()
    expected = recorded(MARKET_BUY_FINAL)
    assert without(final, "uuid", "trades") == without(expected, "uuid", "trades")
    assert without(final["trades"][0], "uuid") == without(expected["trades"][0], "uuid")
    with simulator.exchange_client() as client:
        bought = client.get_order(uuid=buy.json()["uuid"])
        assert bought.state is OrderState.CANCEL
        assert bought.is_filled
        assert bought.paid_fee == Decimal("4.999523925")
        assert bought.executed_volume == Decimal("0.00009713")
        simulator.step(1)  # the sell was recorded one second later
        sold = client.create_order(
            OrderRequest.market_sell("KRW-BTC", Decimal("0.00009713"), "recorded-sell")
        )
        assert sold.state is OrderState.WAIT
        assert sold.locked == Decimal("0.00009713")
        assert sold.price is None
        sold = client.get_order(identifier="recorded-sell")
    assert sold.state is OrderState.DONE
    assert sold.paid_fee == Decimal("4.99743563")
    assert sold.trades is not None
    assert sold.trades[0].funds == Decimal("9994.87126")
    raw_sell = signed_get(http, "/v1/order", "identifier=recorded-sell").json()
    expected_sell = recorded(MARKET_SELL_FINAL)
    assert without(raw_sell, "uuid", "trades", "identifier") == without(expected_sell, "uuid", "trades")
    assert without(raw_sell["trades"][0], "uuid") == without(expected_sell["trades"][0], "uuid")
    balances = simulator.balances()
    # 1,000,000 - (9,999.04785 + 4.999523925) + (9,994.87126 - 4.99743563)
    assert balances["KRW"] == {"balance": Decimal("999985.826450445"), "locked": Decimal(0)}
    assert balances["BTC"] == {"balance": STARTING_BTC, "locked": Decimal(0)}


def test_resting_limit_orders_fill_when_the_path_reaches_them(simulator: Simulator) -> None:
    price = current_price(simulator)
    bid_price, ask_price = price - 2000, price + 2000
    volume = Decimal("0.001")
    with simulator.exchange_client() as client:
        bid = client.create_order(OrderRequest.limit("KRW-BTC", OrderSide.BID, bid_price, volume, "rest-bid"))
        ask = client.create_order(OrderRequest.limit("KRW-BTC", OrderSide.ASK, ask_price, volume, "rest-ask"))
        assert client.get_order(uuid=bid.uuid).state is OrderState.WAIT
        for _ in range(120):
            simulator.step(60)
            orders = [client.get_order(uuid=bid.uuid), client.get_order(uuid=ask.uuid)]
            if all(order.state is OrderState.DONE for order in orders):
                break
    filled_bid, filled_ask = orders
    assert filled_bid.state is OrderState.DONE
    assert filled_ask.state is OrderState.DONE
    assert filled_bid.trades is not None
    assert filled_bid.trades[0].price == bid_price
    assert filled_ask.trades is not None
    assert filled_ask.trades[0].price == ask_price
    bid_funds, ask_funds = bid_price * volume, ask_price * volume
    balances = simulator.balances()
    expected_krw = STARTING_KRW - bid_funds * (1 + FEE) + ask_funds * (1 - FEE)
    assert balances["KRW"] == {"balance": expected_krw, "locked": Decimal(0)}
    assert balances["BTC"] == {"balance": STARTING_BTC, "locked": Decimal(0)}


def test_price_set_by_hand_fills_crossed_orders(simulator: Simulator) -> None:
    price = current_price(simulator)
    with simulator.exchange_client() as client:
        order = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, price - 50_000, Decimal("0.001"), "cross-me")
        )
        simulator.set_price("KRW-BTC", str(price - 100_000))
        filled = client.get_order(uuid=order.uuid)
    assert filled.state is OrderState.DONE
    assert filled.paid_fee == (price - 50_000) * Decimal("0.001") * FEE


def test_marketable_limit_order_fills_at_the_best_ask(simulator: Simulator) -> None:
    simulator.set_price("KRW-BTC", "100000000", bid="100000000", ask="100001000")
    with simulator.exchange_client() as client:
        order = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(100_010_000), Decimal("0.001"), "taker")
        )
        assert order.state is OrderState.WAIT
        assert order.locked == Decimal("100060.005")
        filled = client.get_order(uuid=order.uuid)
    assert filled.state is OrderState.DONE
    assert filled.trades is not None
    assert filled.trades[0].price == Decimal(100_001_000)
    assert simulator.balances()["KRW"] == {
        "balance": STARTING_KRW - Decimal("100001") - Decimal("50.0005"),
        "locked": Decimal(0),
    }


def test_time_in_force_ioc_fok_and_post_only(simulator: Simulator) -> None:
    simulator.set_price("KRW-BTC", "100000000", bid="100000000", ask="100001000")
    with simulator.exchange_client() as client:
        far = Decimal(90_000_000)
        ioc = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, far, Decimal("0.001"), "ioc", TimeInForce.IOC)
        )
        post = client.create_order(
            OrderRequest.limit(
                "KRW-BTC",
                OrderSide.BID,
                Decimal(100_001_000),
                Decimal("0.001"),
                "post",
                TimeInForce.POST_ONLY,
            )
        )
        fok = client.create_order(
            OrderRequest.limit(
                "KRW-BTC", OrderSide.ASK, Decimal(100_000_000), Decimal("0.002"), "fok", TimeInForce.FOK
            )
        )
        states = [client.get_order(uuid=order.uuid) for order in (ioc, post, fok)]
    assert [order.state for order in states] == [OrderState.CANCEL, OrderState.CANCEL, OrderState.DONE]
    assert states[0].executed_volume == 0
    assert states[1].executed_volume == 0
    assert states[2].executed_volume == Decimal("0.002")
    assert simulator.balances()["KRW"]["locked"] == 0


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (
            {
                "market": "KRW-BTC",
                "side": "bid",
                "volume": "0.001",
                "price": "100000500",
                "ord_type": "limit",
            },
            "invalid_price_bid",
        ),
        (
            {
                "market": "KRW-BTC",
                "side": "bid",
                "volume": "0.00001",
                "price": "100000000",
                "ord_type": "limit",
            },
            "under_min_total_bid",
        ),
        (
            {"market": "KRW-BTC", "side": "bid", "volume": "1", "price": "100000000", "ord_type": "limit"},
            "insufficient_funds_bid",
        ),
        ({"market": "KRW-BTC", "side": "ask", "volume": "1", "ord_type": "market"}, "insufficient_funds_ask"),
        (
            {"market": "KRW-BTC", "side": "ask", "volume": "0.00000001", "ord_type": "market"},
            "under_min_total_ask",
        ),
        (
            {"market": "KRW-BTC", "side": "ask", "volume": "0.000000001", "ord_type": "market"},
            "invalid_volume_ask",
        ),
        ({"market": "KRW-BTC", "side": "bid", "price": "4000", "ord_type": "price"}, "under_min_total_bid"),
        (
            {"market": "KRW-BTC", "side": "bid", "price": "10000", "volume": "1", "ord_type": "price"},
            "create_bid_error",
        ),
        (
            {
                "market": "KRW-BTC",
                "side": "ask",
                "volume": "0.001",
                "price": "100000000",
                "ord_type": "market",
            },
            "create_ask_error",
        ),
        ({"market": "KRW-BTC", "side": "ask", "price": "10000", "ord_type": "price"}, "create_ask_error"),
        (
            {"market": "KRW-BTC", "volume": "0.001", "price": "100000000", "ord_type": "limit"},
            "validation_error",
        ),
        (
            {"market": "KRW-BTC", "side": "bid", "volume": "0.001", "price": "100000000", "ord_type": "stop"},
            "validation_error",
        ),
        (
            {"market": "KRW-NOPE", "side": "bid", "price": "10000", "ord_type": "price"},
            "market_does_not_exist",
        ),
    ],
)
def test_order_rejections(simulator: Simulator, body: dict[str, str], name: str) -> None:
    simulator.set_price("KRW-BTC", "100000000")
    response = post_order(simulator.http(), body)
    assert error_of(response) == (400, name)
    assert simulator.orders() == []
    assert simulator.balances()["KRW"] == {"balance": STARTING_KRW, "locked": Decimal(0)}


def test_client_sees_rejections_as_order_rejected(simulator: Simulator) -> None:
    with simulator.exchange_client() as client, pytest.raises(UpbitOrderRejectedError) as refused:
        client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(2_000_000), new_order_identifier()))
    assert refused.value.name == "insufficient_funds_bid"
    assert refused.value.status == 400


def test_identifier_is_unique_forever(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        order = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "once")
        )
        client.cancel_order(uuid=order.uuid)
        with pytest.raises(UpbitOrderRejectedError) as reused:
            client.create_order(
                OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "once")
            )
        assert reused.value.name == "duplicate_identifier"
        with pytest.raises(UpbitOrderRejectedError):
            client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(5_000_000), "refused-once"))
        # Even a refused request used its identifier up (§3.6).
        with pytest.raises(UpbitOrderRejectedError) as burnt:
            client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "refused-once"))
        assert burnt.value.name == "duplicate_identifier"
    assert len(simulator.orders()) == 1


def test_order_test_endpoint_creates_nothing(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        checked = client.validate_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "dry-run"))
        with pytest.raises(UpbitOrderRejectedError):
            client.validate_order(OrderRequest.market_buy("KRW-BTC", Decimal(4_000), "dry-run-2"))
        assert client.find_order("dry-run") is None
    assert checked.state is OrderState.WAIT
    assert checked.locked == Decimal("10005")
    assert simulator.orders() == []
    assert simulator.balances()["KRW"]["balance"] == STARTING_KRW


def test_order_lists(simulator: Simulator) -> None:
    simulator.set_price("KRW-BTC", "100000000")
    with simulator.exchange_client() as client:
        resting = [
            client.create_order(
                OrderRequest.limit(
                    "KRW-BTC", OrderSide.BID, Decimal(price), Decimal("0.001"), f"list-{price}"
                )
            )
            for price in (10_000_000, 11_000_000, 12_000_000)
        ]
        client.cancel_order(identifier="list-11000000")
        bought = client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "list-buy"))
        open_orders = client.list_open_orders("KRW-BTC")
        assert [order.uuid for order in open_orders] == [resting[2].uuid, resting[0].uuid]  # newest first
        assert all(order.executed_funds == 0 for order in open_orders)
        closed = client.list_closed_orders("KRW-BTC", ascending=True)
        assert [order.uuid for order in closed] == [resting[1].uuid, bought.uuid]
        assert closed[1].executed_funds == Decimal("0.00009999") * 100_001_000  # at the best ask
        only_cancelled = client.list_closed_orders(states=(OrderState.CANCEL,))
        assert {order.state for order in only_cancelled} == {OrderState.CANCEL}
        window = client.list_closed_orders(
            start_time=datetime(2026, 3, 1, tzinfo=UTC), end_time=datetime(2026, 3, 8, tzinfo=UTC)
        )
        assert window == []
    http = simulator.http()
    query = "identifiers[]=list-10000000&identifiers[]=list-buy"
    by_id = signed_get(http, "/v1/orders/uuids", query).json()
    assert {item["identifier"] for item in by_id} == {"list-10000000", "list-buy"}
    assert all("executed_funds" in item and "trades" not in item for item in by_id)
    legacy = signed_get(http, "/v1/orders", "market=KRW-BTC&state=wait").json()
    assert {item["identifier"] for item in legacy} == {"list-10000000", "list-12000000"}
    too_wide = signed_get(
        http, "/v1/orders/closed", "start_time=2026-03-01T00:00:00Z&end_time=2026-03-20T00:00:00Z"
    )
    assert error_of(too_wide) == (400, "validation_error")


def test_batch_cancels_and_cancel_and_new(simulator: Simulator) -> None:
    with simulator.exchange_client() as client:
        orders = [
            client.create_order(
                OrderRequest.limit("KRW-BTC", side, Decimal(price), Decimal("0.001"), f"batch-{index}")
            )
            for index, (side, price) in enumerate(
                [(OrderSide.BID, 10_000_000), (OrderSide.BID, 11_000_000), (OrderSide.ASK, 900_000_000)]
            )
        ]
    http = simulator.http()
    hashed = f"uuids[]={orders[0].uuid}&uuids[]=missing-uuid"
    result = http.delete(f"/v1/orders/uuids?{hashed}", headers=bearer(hashed)).json()
    assert result["success"] == {
        "count": 1,
        "orders": [{"uuid": orders[0].uuid, "market": "KRW-BTC", "identifier": "batch-0"}],
    }
    assert result["failed"]["count"] == 1
    replace = {
        "prev_order_uuid": orders[1].uuid,
        "new_ord_type": "limit",
        "new_price": "12000000",
        "new_volume": "remain_only",
        "new_identifier": "batch-new",
    }
    replaced = http.post(
        "/v1/orders/cancel_and_new",
        content=json.dumps(replace),
        headers=bearer("&".join(f"{key}={value}" for key, value in replace.items())),
    )
    assert replaced.status_code == 201
    assert replaced.json()["uuid"] == orders[1].uuid
    assert replaced.json()["new_order_identifier"] == "batch-new"
    query = "cancel_side=bid"
    bids = http.delete(f"/v1/orders/open?{query}", headers=bearer(query)).json()
    assert bids["success"]["count"] == 1
    assert bids["success"]["orders"][0]["identifier"] == "batch-new"
    states = {order["identifier"]: order["state"] for order in simulator.orders()}
    assert states == {"batch-0": "cancel", "batch-1": "cancel", "batch-2": "wait", "batch-new": "cancel"}
    assert simulator.balances()["KRW"]["locked"] == 0
    assert simulator.balances()["BTC"]["locked"] == Decimal("0.001")


# --- rate limits ---------------------------------------------------------------------------


def test_throttling_counts_down_then_429_then_418(simulator_factory: SimulatorFactory) -> None:
    timer = ManualTimer()
    simulator = simulator_factory(rate_timer=timer)
    simulator.set_rate_limits(block_after=3, block_seconds=30)
    http = simulator.http()
    answers = [http.get("/v1/market/all") for _ in range(10)]
    assert [answer.headers["Remaining-Req"][-5:] for answer in answers] == [
        f"sec={n}" for n in range(9, -1, -1)
    ]
    throttled = [http.get("/v1/market/all") for _ in range(2)]
    assert [answer.status_code for answer in throttled] == [429, 429]
    assert throttled[0].text == "Too many API requests."
    assert throttled[0].headers["Remaining-Req"].endswith("sec=0")
    blocked = http.get("/v1/market/all")  # the third 429 in a row becomes a block
    assert blocked.status_code == 418
    assert blocked.headers["Retry-After"] == "30"
    still = http.get("/v1/candles/minutes/1", params={"market": "KRW-BTC"})  # every group is blocked
    assert still.status_code == 418
    assert still.headers["Retry-After"] == "30"
    timer.advance(31)
    assert http.get("/v1/market/all").status_code == 200


def test_client_maps_429_and_418(simulator_factory: SimulatorFactory) -> None:
    timer = ManualTimer()
    simulator = simulator_factory(rate_timer=timer)
    simulator.set_rate_limits(block_after=2, block_seconds=20, body="json")
    http = simulator.http()
    for _ in range(10):
        http.get("/v1/ticker", params={"markets": "KRW-BTC"})
    # A client clock that does not really wait: the 429 penalty would otherwise cost a second.
    with simulator.quotation_client(attempts=1, clock=NoWaitClock()) as client:
        with pytest.raises(UpbitThrottledError) as throttled:
            client.get_tickers(["KRW-BTC"])
        assert throttled.value.name == "too_many_requests"
        with pytest.raises(UpbitBlockedError) as blocked:
            client.get_tickers(["KRW-BTC"])
    assert blocked.value.retry_after_seconds == 20


def test_exchange_limits_are_per_account(simulator_factory: SimulatorFactory) -> None:
    timer = ManualTimer()
    simulator = simulator_factory(rate_timer=timer)
    http = simulator.http()
    for _ in range(30):
        assert http.get("/v1/accounts", headers=bearer()).status_code == 200
    assert http.get("/v1/accounts", headers=bearer()).status_code == 429
    other = {
        "Authorization": f"Bearer {make_token(claims_for(access_key=OTHER_ACCESS_KEY), OTHER_SECRET_KEY)}"
    }
    answer = http.get("/v1/accounts", headers=other)
    assert answer.status_code == 200
    assert answer.headers["Remaining-Req"] == "group=default; min=1800; sec=29"
    order = post_order(http, {"market": "KRW-BTC", "side": "bid", "price": "4000", "ord_type": "price"})
    assert order.headers["Remaining-Req"] == "group=order; min=480; sec=7"  # its own group


# --- faults and the client's recovery ----------------------------------------------------------


def test_dropped_order_response_is_recovered_by_identifier(simulator: Simulator) -> None:
    simulator.set_price("KRW-BTC", "102902000", bid="102902000", ask="102945000")
    simulator.schedule_fault("drop", "POST", "/v1/orders")
    identifier = new_order_identifier()
    with simulator.exchange_client() as client:
        order = client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), identifier))
    assert order.identifier == identifier
    assert order.state is OrderState.CANCEL
    assert order.executed_volume == Decimal("0.00009713")
    orders = simulator.orders()
    assert len(orders) == 1
    assert orders[0]["identifier"] == identifier
    assert simulator.balances()["KRW"]["balance"] == STARTING_KRW - Decimal("10004.047373925")


def test_malformed_order_response_is_recovered(simulator: Simulator) -> None:
    simulator.schedule_fault("malformed", "POST", "/v1/orders")
    with simulator.exchange_client() as client:
        order = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "garbled")
        )
    assert order.identifier == "garbled"
    assert len(simulator.orders()) == 1


def test_timed_out_order_is_placed_once(simulator: Simulator) -> None:
    simulator.set_faults(timeout_seconds=0.3)
    simulator.schedule_fault("timeout", "POST", "/v1/orders")
    with simulator.exchange_client(timeout=0.1) as client:
        order = client.create_order(
            OrderRequest.limit("KRW-BTC", OrderSide.BID, Decimal(10_000_000), Decimal("0.001"), "slow")
        )
    assert order.identifier == "slow"
    time.sleep(0.4)  # let the stalled first request finish: it must be refused as a duplicate
    assert len(simulator.orders()) == 1
    assert simulator.balances()["KRW"]["locked"] == Decimal("10005")


def test_server_errors_are_retried_for_reads_only(simulator: Simulator) -> None:
    simulator.schedule_fault("error", "GET", "/v1/accounts", count=2)
    with simulator.exchange_client(attempts=3) as client:
        assert len(client.get_accounts()) == 2
        simulator.schedule_fault("error", "GET", "/v1/accounts", count=3)
        with pytest.raises(UpbitServerError):
            client.get_accounts()


def test_latency_is_added(simulator: Simulator) -> None:
    simulator.set_faults(latency_seconds=0.15)
    http = simulator.http()
    began = time.monotonic()
    assert http.get("/v1/market/all").status_code == 200
    assert time.monotonic() - began >= 0.15
    simulator.admin.delete("/_admin/faults")
    assert simulator.admin.get("/_admin/state").json()["faults"]["latency_seconds"] == 0


def test_every_client_error_class(simulator: Simulator) -> None:
    simulator.set_faults(timeout_seconds=0.3)
    with simulator.exchange_client(attempts=1, timeout=0.1) as client:
        with pytest.raises(UpbitClientError) as bad_state:
            client.list_open_orders(states=(OrderState.DONE,))
        assert (bad_state.value.status, bad_state.value.name) == (400, "validation_error")
        assert client.find_order("never-sent") is None  # 404 order_not_found
        simulator.schedule_fault("timeout", "GET", "/v1/accounts")
        with pytest.raises(UpbitTimeoutError):
            client.get_accounts()
        simulator.schedule_fault("drop", "GET", "/v1/accounts")
        with pytest.raises(UpbitConnectionError):
            client.get_accounts()
        simulator.schedule_fault("malformed", "GET", "/v1/accounts")
        with pytest.raises(UpbitResponseError):
            client.get_accounts()
        simulator.schedule_fault("drop", "POST", "/v1/orders")
        simulator.schedule_fault("error", "GET", "/v1/order")
        with pytest.raises(OrderStateUnknownError) as unknown:
            client.create_order(OrderRequest.market_buy("KRW-BTC", Decimal(10_000), "unknown-outcome"))
        assert unknown.value.identifier == "unknown-outcome"
        assert client.get_order(identifier="unknown-outcome").is_filled  # resolved later, as documented


# --- bad requests ------------------------------------------------------------------------------


def test_bad_requests_get_upbit_errors_never_a_stack_trace(simulator: Simulator) -> None:
    http = simulator.http()
    answers = [
        http.post("/v1/orders", content=b"{not json", headers=bearer("x=1")),
        http.post("/v1/orders", content=b"[1, 2]", headers=bearer("")),
        http.post("/v1/orders", content=json.dumps({"market": {"nested": 1}}), headers=bearer("")),
        http.get("/v1/nothing-here"),
        http.put("/v1/ticker"),
        http.get("/v1/order", headers=bearer()),
        http.get("/v1/order?uuid=unknown", headers=bearer("uuid=unknown")),
        http.get("/v1/orders/open?limit=1000", headers=bearer("limit=1000")),
        http.get("/v1/candles/days/3", params={"market": "KRW-BTC"}),
        http.get("/v1/trades/ticks", params={"market": "KRW-BTC", "days_ago": "9"}),
        http.post("/_admin/clock/step", json={"seconds": -1}),
        http.post("/_admin/price", json={"market": "KRW-BTC", "price": "100000500"}),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        error_of(answer)
        assert "Traceback" not in answer.text
    assert simulator.orders() == []


# --- admin endpoints: a per-run token and JSON only (issue 19, finding 9) ----------------------


def test_admin_cross_site_text_plain_price_change_refused_price_unchanged(simulator: Simulator) -> None:
    before = current_price(simulator)
    answer = simulator.http().post(
        "/_admin/price",
        content=json.dumps({"market": "KRW-BTC", "price": "1000"}),
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
    )
    assert error_of(answer) == (401, "invalid_admin_token")
    assert "access-control-allow-origin" not in answer.headers
    assert current_price(simulator) == before


def test_admin_without_token_refused_with_wrong_token_refused(simulator: Simulator) -> None:
    http = simulator.http()
    assert error_of(http.get("/_admin/state")) == (401, "invalid_admin_token")
    assert error_of(http.delete("/_admin/faults", headers={"X-Admin-Token": "guess"})) == (
        401,
        "invalid_admin_token",
    )
    wrong = {"X-Admin-Token": simulator.server.admin_token + "x"}
    assert error_of(http.post("/_admin/clock/step", json={"seconds": 60}, headers=wrong))[0] == 401


def test_admin_with_token_but_text_plain_body_refused_415(simulator: Simulator) -> None:
    before = current_price(simulator)
    answer = simulator.http().post(
        "/_admin/price",
        content=json.dumps({"market": "KRW-BTC", "price": "1000"}),
        headers={"Content-Type": "text/plain", **simulator.server.admin_headers},
    )
    assert error_of(answer) == (415, "unsupported_media_type")
    assert current_price(simulator) == before


def test_admin_with_token_and_json_accepted(simulator: Simulator) -> None:
    answer = simulator.http().post(
        "/_admin/clock/step", json={"seconds": 60}, headers=simulator.server.admin_headers
    )
    assert answer.status_code == 200
    assert "now" in answer.json()


def test_admin_token_differs_per_run(simulator_factory: SimulatorFactory) -> None:
    first, second = simulator_factory(), simulator_factory()
    assert first.server.admin_token != second.server.admin_token
    assert len(first.server.admin_token) >= 32
