"""The per-user database's tables, exactly as each schema version creates them.

Storage conventions (every table follows them; `codecs` holds the only converters):

- Times are INTEGER epoch nanoseconds, UTC (the same unit as `core.models` candle starts).
  Durations are INTEGER nanoseconds.
- Money (prices, balances, volumes, fees, profits) is TEXT holding an exact `Decimal` in plain
  notation (`'0.00009713'`, never REAL). Only indicator values (macd, signal, hist) are REAL:
  they are float64 results of the indicator arithmetic, not amounts of money.
- JSON columns are TEXT, checked with `json_valid` and written with NaN/Infinity refused.
- Every table is STRICT, so a value of the wrong type is refused instead of stored.

Each version's statements are frozen once released: a later version changes a table in its own
statements, and `migrations` runs them in order. What each version means is told there.
"""

from __future__ import annotations

SCHEMA_VERSION = 7
# The original system's seven tables (version 1: naive KST text times, REAL money, no keys).
V1_TABLES = ("users", "account", "coin_position", "orders", "buy_eval", "sell_eval", "trade_audit")

# Version 2's tables exactly as created; frozen: a later version changes them in its own migration.
VERSION_2: tuple[str, ...] = (
    """CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT CHECK (password_hash IS NULL
        OR (length(password_hash) = 60 AND password_hash GLOB '$2[aby]$[0-9][0-9]$*')),
    created_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE api_keys (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    access_key_ciphertext BLOB NOT NULL,
    secret_key_ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE account (
    mode TEXT PRIMARY KEY CHECK (mode IN ('TEST', 'LIVE')),
    krw_balance TEXT NOT NULL CHECK (krw_balance NOT LIKE '-%'),
    starting_krw TEXT NOT NULL DEFAULT '1000000' CHECK (starting_krw NOT LIKE '-%'),
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE coin_position (
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    entry_price TEXT CHECK (entry_price NOT LIKE '-%'),
    peak_price TEXT,
    entry_candle_start INTEGER,
    bars_held INTEGER NOT NULL DEFAULT 0 CHECK (bars_held >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (mode, market)) STRICT""",
    """CREATE TABLE settings_history (
    version INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('params', 'conditions')),
    content TEXT NOT NULL CHECK (json_valid(content)),
    content_hash TEXT NOT NULL,
    saved_at INTEGER NOT NULL,
    saved_by TEXT NOT NULL CHECK (saved_by <> '')) STRICT""",
    "CREATE INDEX settings_history_by_kind ON settings_history (kind, version)",
    """CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE CHECK (identifier <> ''),
    uuid TEXT UNIQUE,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
    ord_type TEXT NOT NULL CHECK (ord_type IN ('limit', 'price', 'market', 'best')),
    price TEXT,
    volume TEXT,
    state TEXT NOT NULL CHECK (state IN ('requested', 'wait', 'watch', 'done', 'cancel', 'rejected')),
    executed_volume TEXT,
    average_price TEXT,
    paid_fee TEXT,
    error_name TEXT,
    error_message TEXT,
    candle_start INTEGER,
    requested_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    "CREATE INDEX orders_unfinished ON orders (mode, state) WHERE state IN ('requested', 'wait', 'watch')",
    """CREATE TABLE buy_eval (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    candle_start INTEGER NOT NULL,
    price TEXT NOT NULL,
    macd REAL,
    signal REAL,
    hist REAL,
    conditions TEXT NOT NULL CHECK (json_valid(conditions)),
    decision TEXT NOT NULL CHECK (decision IN ('buy', 'sell', 'hold')),
    reason TEXT NOT NULL,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (market, interval, candle_start)) STRICT""",
    """CREATE TABLE sell_eval (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    candle_start INTEGER NOT NULL,
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('close', 'tick')),
    price TEXT NOT NULL,
    entry_price TEXT NOT NULL,
    peak_price TEXT NOT NULL,
    stop_loss_price TEXT NOT NULL,
    take_profit_price TEXT NOT NULL,
    trailing_stop_price TEXT NOT NULL,
    bars_held INTEGER NOT NULL CHECK (bars_held >= 0),
    macd REAL,
    signal REAL,
    hist REAL,
    rules TEXT NOT NULL CHECK (json_valid(rules)),
    decision TEXT NOT NULL CHECK (decision IN ('buy', 'sell', 'hold')),
    reason TEXT NOT NULL,
    trigger_rule TEXT,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    evaluated_at INTEGER NOT NULL,
    PRIMARY KEY (market, interval, candle_start, trigger_kind)) STRICT""",
    """CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('start', 'stop', 'restart', 'set_mode', 'force_buy', 'force_sell',
        'pause', 'resume')),
    args TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(args) AND json_type(args) = 'object'),
    requested_by TEXT NOT NULL CHECK (requested_by <> ''),
    requested_at INTEGER NOT NULL,
    live_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (live_confirmed IN (0, 1)),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'claimed', 'done', 'failed',
        'rejected')),
    claimed_by TEXT,
    claimed_at INTEGER,
    result_message TEXT,
    acknowledged_at INTEGER) STRICT""",
    "CREATE INDEX commands_by_status ON commands (status, id)",
    """CREATE TABLE trade_audit (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    interval TEXT,
    candle_start INTEGER,
    side TEXT NOT NULL CHECK (side IN ('bid', 'ask')),
    order_identifier TEXT UNIQUE REFERENCES orders (identifier),
    order_uuid TEXT,
    fill_price TEXT NOT NULL CHECK (fill_price NOT LIKE '-%'),
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    fee TEXT NOT NULL CHECK (fee NOT LIKE '-%'),
    realised_profit TEXT,
    params_version INTEGER NOT NULL REFERENCES settings_history (version),
    conditions_version INTEGER NOT NULL REFERENCES settings_history (version),
    cause TEXT NOT NULL CHECK (cause IN ('strategy', 'force', 'recovery', 'manual')),
    rule TEXT,
    command_id INTEGER REFERENCES commands (id),
    requested_by TEXT,
    note TEXT,
    executed_at INTEGER NOT NULL,
    CHECK (cause = 'manual' OR order_identifier IS NOT NULL),
    CHECK (cause <> 'strategy' OR rule IS NOT NULL),
    CHECK (cause <> 'force' OR (command_id IS NOT NULL AND requested_by IS NOT NULL))) STRICT""",
    "CREATE INDEX trade_audit_by_time ON trade_audit (executed_at)",
    """CREATE TABLE engine_status (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    state TEXT NOT NULL CHECK (state IN ('stopped', 'warming_up', 'running', 'paused', 'failed')),
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    engine_id TEXT,
    heartbeat_at INTEGER NOT NULL,
    last_fetch_at INTEGER,
    last_closed_candle INTEGER,
    last_cycle_duration INTEGER,
    last_error TEXT) STRICT""",
    """CREATE TABLE candle_cache (
    market TEXT NOT NULL,
    interval TEXT NOT NULL,
    start INTEGER NOT NULL,
    open TEXT NOT NULL,
    high TEXT NOT NULL,
    low TEXT NOT NULL,
    close TEXT NOT NULL,
    volume TEXT NOT NULL,
    PRIMARY KEY (market, interval, start)) STRICT, WITHOUT ROWID""",
)

# Version 3: the optional AI review (issue 8). Settings are JSON validated by
# `ai_review.config.AiSettings`; the API key is Fernet ciphertext like `api_keys`. `ai_calls` keeps
# every request whatever its outcome: `pending` is the reservation written before a request is
# sent (its cost is the estimate, so concurrent callers and a crash mid-request stay under the cap).
VERSION_3: tuple[str, ...] = (
    """CREATE TABLE ai_settings (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    settings TEXT NOT NULL CHECK (json_valid(settings) AND json_type(settings) = 'object'),
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL CHECK (updated_by <> '')) STRICT""",
    """CREATE TABLE ai_keys (
    username TEXT PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
    api_key_ciphertext BLOB NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE ai_calls (
    id INTEGER PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('explain', 'review', 'advisor')),
    row_ref TEXT,
    model TEXT NOT NULL CHECK (model <> ''),
    prompt TEXT NOT NULL CHECK (json_valid(prompt) AND json_type(prompt) = 'array'),
    response TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'timeout', 'budget')),
    error TEXT,
    input_tokens INTEGER CHECK (input_tokens >= 0),
    output_tokens INTEGER CHECK (output_tokens >= 0),
    cost_usd TEXT NOT NULL CHECK (cost_usd NOT LIKE '-%'),
    duration INTEGER CHECK (duration >= 0),
    created_at INTEGER NOT NULL) STRICT""",
    "CREATE INDEX ai_calls_by_time ON ai_calls (created_at)",
    """CREATE TABLE ai_explanations (
    row_ref TEXT PRIMARY KEY CHECK (row_ref <> ''),
    row_evaluated_at INTEGER NOT NULL,
    call_id INTEGER NOT NULL REFERENCES ai_calls (id),
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL) STRICT""",
)

# Version 4: order intents, position origin, and the user's decisions about adopted positions.
VERSION_4: tuple[str, ...] = (
    "ALTER TABLE orders ADD COLUMN cause TEXT "
    "CHECK (cause IS NULL OR cause IN ('strategy', 'force', 'recovery', 'manual'))",
    "ALTER TABLE orders ADD COLUMN rule TEXT",
    "ALTER TABLE orders ADD COLUMN command_id INTEGER",
    "ALTER TABLE orders ADD COLUMN requested_by TEXT",
    "ALTER TABLE orders ADD COLUMN note TEXT",
    "ALTER TABLE orders ADD COLUMN params_version INTEGER",
    "ALTER TABLE orders ADD COLUMN conditions_version INTEGER",
    "ALTER TABLE coin_position ADD COLUMN origin TEXT NOT NULL DEFAULT 'bot' "
    "CHECK (origin IN ('bot', 'adopted'))",
    """CREATE TABLE position_decisions (
    id INTEGER PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ('TEST', 'LIVE')),
    market TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('confirm', 'release')),
    volume TEXT NOT NULL CHECK (volume NOT LIKE '-%'),
    entry_price TEXT CHECK (entry_price NOT LIKE '-%'),
    decided_by TEXT NOT NULL CHECK (decided_by <> ''),
    decided_at INTEGER NOT NULL,
    note TEXT) STRICT""",
)


# Version 5: notifications (issue 14). One user per file, so the settings and the secrets are single
# rows. Settings are JSON validated by `notifications.config.NotifySettings`; the Telegram token and
# the webhook URL are Fernet ciphertext like `api_keys`. An outbox row is written in the transaction
# of the event that causes it and delivered later; its id is the dedup key across crashes.
# The kind CHECK of version 5's outbox, exactly as written in VERSION_5 below.
VERSION_5: tuple[str, ...] = (
    """CREATE TABLE notify_settings (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    settings TEXT NOT NULL CHECK (json_valid(settings) AND json_type(settings) = 'object'),
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL CHECK (updated_by <> '')) STRICT""",
    """CREATE TABLE notify_secrets (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    telegram_token_ciphertext BLOB,
    webhook_url_ciphertext BLOB,
    updated_at INTEGER NOT NULL) STRICT""",
    """CREATE TABLE notify_outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('fill', 'order_refused', 'alert', 'engine', 'daily_summary',
        'test')),
    level TEXT NOT NULL CHECK (level IN ('on', 'silent')),
    text TEXT NOT NULL CHECK (text <> ''),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    sent_at INTEGER,
    created_at INTEGER NOT NULL) STRICT""",
    "CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at, id) WHERE status = 'pending'",
)

# Version 6: delivery state per channel (issue 14). One outbox row per channel configured when the
# event is written, so a row half delivered (Telegram ok, webhook failing) is never resent to the
# channel that took it. `channel` is NULL only for rows finished before version 6 (they went to
# every channel at once). `dropped`: the channel was removed while the row waited. `kind` is any
# lower-case name (issue 17): `notifications.config.EventKind` is the list, so new events need no
# table rebuild.
VERSION_6: tuple[str, ...] = (
    """CREATE TABLE notify_outbox_v6 (
    id INTEGER PRIMARY KEY,
    channel TEXT CHECK (channel IN ('telegram', 'webhook')),
    kind TEXT NOT NULL CHECK (kind <> '' AND kind NOT GLOB '*[^a-z_]*'),
    level TEXT NOT NULL CHECK (level IN ('on', 'silent')),
    text TEXT NOT NULL CHECK (text <> ''),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead', 'dropped')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    sent_at INTEGER,
    created_at INTEGER NOT NULL,
    CHECK (status <> 'pending' OR channel IS NOT NULL)) STRICT""",
    "CREATE INDEX notify_outbox_due ON notify_outbox (channel, next_attempt_at, id) WHERE status = 'pending'",
)

# Version 7: the user's preferences (issue 18: the dashboard's language), one row per preference,
# values language-neutral codes validated by `services.preferences`.
VERSION_7: tuple[str, ...] = (
    """CREATE TABLE user_preferences (
    name TEXT PRIMARY KEY CHECK (name <> ''),
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL) STRICT""",
)

# Version 4 also: the one CHECK of version 2's trade_audit that a dust write-off (no order) must pass.
ORDER_REQUIRED = "CHECK (cause = 'manual' OR order_identifier IS NOT NULL)"
ORDER_OR_DUST = "CHECK (cause = 'manual' OR rule = 'dust' OR order_identifier IS NOT NULL)"
