"""Notifications to a user's own channels (issue 14).

- `channels`: sending one message to Telegram or a webhook over httpx, never raising.
- `delivery_health`: last success, last error and backlog of each channel, for health readings.
"""
