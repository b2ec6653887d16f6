"""Account & Mode: the user's Upbit keys (stored encrypted, shown masked) and TEST or LIVE.

TEST is the default. LIVE needs stored keys, the account's KRW balance read from Upbit in this
session (so the user sees what the bot will trade with), and an explicit confirmation; the start
command then carries that confirmation. The secret key is never shown or echoed back.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypedDict

import streamlit as st

from tradebot.core.errors import SettingsError, TradebotError
from tradebot.exchange.upbit import (
    DEFAULT_BASE_URL,
    Credentials,
    UpbitError,
    UpbitExchangeClient,
    UpbitSession,
)
from tradebot.services.desired_state import desired_state
from tradebot.services.records import CommandKind, Mode
from tradebot.services.secrets import SecretBox
from tradebot.services.trading_control import build_request, submit_command
from tradebot.services.user_admin import UpbitKeys, load_keys, save_keys
from tradebot.ui.components.adopted import render_adopted_positions
from tradebot.ui.components.language import render_language_choice
from tradebot.ui.components.metrics import format_krw, format_time, render_commands
from tradebot.ui.components.safeguards import render_key_expiry
from tradebot.ui.session import home, require_user, user_store

EXCHANGE_URL_VARIABLE = "TRADEBOT_EXCHANGE_URL"
BALANCE_KEY = "account_upbit_balance"
UPBIT_TIMEOUT_SECONDS = 10.0
LIVE_CONFIRMATION = "I understand: LIVE mode places real orders with real money on my Upbit account."


class UpbitBalance(TypedDict):
    """The KRW balance read from Upbit, and for whom: a session may later hold another login.

    A plain dict in the session: a class defined in a page is a new class on every run.
    """

    username: str
    access_key_mask: str
    krw: Decimal
    locked: Decimal
    fetched_at: datetime
    base_url: str


def exchange_url() -> str:
    """Upbit's base URL: `TRADEBOT_EXCHANGE_URL` (e.g. the simulator), else api.upbit.com."""
    return os.environ.get(EXCHANGE_URL_VARIABLE, "").strip() or DEFAULT_BASE_URL


def mask(access_key: str) -> str:
    """The first four characters of a key and stars."""
    return access_key[:4] + "****"


def fetch_balance(username: str, keys: UpbitKeys, base_url: str) -> UpbitBalance:
    """The account's KRW balance from Upbit (UpbitError or ValueError when it cannot be read)."""
    credentials = Credentials(keys.access_key, keys.secret_key)
    session = UpbitSession(base_url=base_url, timeout=UPBIT_TIMEOUT_SECONDS, attempts=1)
    with UpbitExchangeClient(credentials, session) as client:
        accounts = client.get_accounts()
    krw = next((account for account in accounts if account.currency == "KRW"), None)
    return UpbitBalance(
        username=username,
        access_key_mask=mask(keys.access_key),
        krw=krw.balance if krw else Decimal(0),
        locked=krw.locked if krw else Decimal(0),
        fetched_at=datetime.now(UTC),
        base_url=base_url,
    )


def stored_keys(username: str) -> UpbitKeys | None:
    """The user's decrypted keys, or None (a key that does not decrypt is shown as an error)."""
    try:
        with user_store(username) as store:
            if store.api_keys(username) is None:
                return None  # checked first: opening the box would create a key file for nothing
            return load_keys(store, SecretBox.for_home(home()), username)
    except TradebotError as error:
        st.error(f"Your stored keys cannot be read: {error}")
        return None


def render_keys(username: str) -> UpbitKeys | None:
    """The masked stored keys and a form to replace them; returns the keys now stored."""
    st.subheader("Upbit API keys")
    status = st.container()
    with st.form("keys_form", clear_on_submit=True):
        access = st.text_input("Access key", type="password", autocomplete="off")
        secret = st.text_input("Secret key", type="password", autocomplete="off")
        submitted = st.form_submit_button("Save keys")
    if submitted:
        save_submitted_keys(username, access or "", secret or "")
    keys = stored_keys(username)
    if keys is None:
        status.info("No keys stored yet: LIVE mode needs your Upbit access and secret key.")
    else:
        status.success(
            f"Keys stored, encrypted: access key `{mask(keys.access_key)}`, secret key `********`."
        )
    return keys


def save_submitted_keys(username: str, access: str, secret: str) -> None:
    """Store the typed keys encrypted; nothing typed is ever shown back."""
    if not access.strip() or not secret.strip():
        st.error("Enter both the access key and the secret key.")
        return
    try:
        save_keys(home(), username, UpbitKeys(access.strip(), secret.strip()), datetime.now(UTC))
    except TradebotError as error:
        st.error(f"The keys were not saved: {error}")
        return
    st.session_state.pop(BALANCE_KEY, None)  # a balance read with the old keys no longer applies
    st.success("Keys saved (encrypted). Check the Upbit balance before starting LIVE.")


def send_mode(username: str, mode: Mode, *, confirm_live: bool = False) -> None:
    """Start in `mode` (or switch a running loop to it) and say what happens next."""
    try:
        with user_store(username) as store:
            kind: CommandKind = "set_mode" if desired_state(store).running else "start"
            request = build_request(kind, username, datetime.now(UTC), mode=mode, confirm_live=confirm_live)
            command_id = submit_command(store, username, request)
    except SettingsError as error:
        st.error(f"Not sent: {error}")
        return
    st.success(
        f"Sent {kind.replace('_', ' ')} {mode} (command #{command_id}). The engine applies it within "
        "one cycle (~5 s); its answer appears under Recent commands."
    )


def current_balance(username: str, keys: UpbitKeys) -> UpbitBalance | None:
    """The balance checked in this session for this user and these keys, if any."""
    balance: UpbitBalance | None = st.session_state.get(BALANCE_KEY)
    if balance is None or balance["username"] != username:
        return None
    if balance["access_key_mask"] != mask(keys.access_key):
        return None
    return balance


def check_balance(username: str, keys: UpbitKeys) -> None:
    """Read the KRW balance from Upbit into the session; any failure is one clear message."""
    base_url = exchange_url()
    try:
        st.session_state[BALANCE_KEY] = fetch_balance(username, keys, base_url)
    except (UpbitError, ValueError) as error:
        message = Credentials(keys.access_key, keys.secret_key).redact(str(error))
        st.error(f"Could not read your balance from Upbit ({base_url}): {message}")


def render_live(username: str, keys: UpbitKeys | None) -> None:
    """LIVE: the Upbit balance first, then the confirmation, then the start button."""
    if keys is None:
        st.warning("Save your Upbit API keys above before switching to LIVE.")
        return
    if st.button("Check Upbit KRW balance"):
        check_balance(username, keys)
    balance = current_balance(username, keys)
    if balance is None:
        st.info("Check your Upbit balance: LIVE trades with this account's KRW.")
    else:
        st.metric(
            "Upbit KRW balance (available)",
            format_krw(balance["krw"]),
            help=f"Locked in open orders: {format_krw(balance['locked'])}. "
            f"Read {format_time(balance['fetched_at'])} from {balance['base_url']}.",
        )
    confirmed = st.checkbox(LIVE_CONFIRMATION, key="live_confirmed")
    if st.button("Start LIVE", type="primary", disabled=balance is None or not confirmed):
        send_mode(username, "LIVE", confirm_live=True)


def render_state(username: str) -> None:
    """What the user last asked for, and the recorded TEST and LIVE balances."""
    with user_store(username) as store:
        desired = desired_state(store)
        accounts = {mode: store.account(mode) for mode in ("TEST", "LIVE")}
    running = "running" if desired.running else "stopped"
    st.markdown(f"Last accepted request: **{running}** in **{desired.mode}**.")
    columns = st.columns(2)
    for column, (mode, account) in zip(columns, accounts.items(), strict=True):
        column.metric(f"{mode} KRW (recorded)", format_krw(account.krw_balance if account else None))


def main() -> None:
    """The page."""
    username = require_user()
    st.title("🔑 Account & Mode")
    render_language_choice(username)
    try:
        render_state(username)
        with user_store(username) as store:
            render_adopted_positions(store, username)
        keys = render_keys(username)
        if keys is not None:
            render_key_expiry(username, datetime.now(UTC))
    except TradebotError as error:
        st.error(str(error))
        st.stop()
    st.subheader("Mode")
    mode = st.radio(
        "Trading mode", ["TEST", "LIVE"], index=0, horizontal=True,
        captions=["Paper trading on real prices", "Real orders with real money"],
    )  # fmt: skip
    if mode == "TEST":
        if st.button("Start TEST"):
            send_mode(username, "TEST")
    else:
        render_live(username, keys)
    with user_store(username) as store:
        render_commands(store.recent_commands(limit=10), datetime.now(UTC))


main()
