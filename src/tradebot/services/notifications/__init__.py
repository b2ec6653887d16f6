"""Notifications to a user's own channels (issue 14).

- `channels`: sending one message to Telegram or a webhook over httpx, never raising.
"""
