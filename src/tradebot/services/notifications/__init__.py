"""Notifications (issue 14): per-user channels, and the outbox that events write messages into.

- `config`: `NotifySettings`, the encrypted Telegram token and webhook URL, `load_channels`.
- `outbox`: `enqueue` (in the event's own transaction), `due`, `mark_sent|retry|dead`.
- `messages`: the texts of fills, refused orders and alerts.
"""
