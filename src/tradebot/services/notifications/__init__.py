"""Notifications (issue 14): per-user channels, and the outbox that events write messages into.

- `config`: `NotifySettings`, the encrypted Telegram token and webhook URL, `load_channels`.
- `outbox`: `enqueue` (in the event's own transaction), `due`, `mark_sent|retry|dead`.
- `messages`: the texts of fills, dust write-offs, refused orders and alerts, and the `notify_*` calls.
- `setup`: changing (`save_changes`), showing (`describe`, masked) and testing (`queue_test`) a set-up.
- `channels`: sending one message to Telegram or a webhook over httpx, never raising.
- `delivery_health`: last success, last error and backlog of each channel, for health readings.
"""
