"""The error hierarchy shared by every layer.

Anything a user can cause (bad files, bad parameters, rejected orders) raises a subclass of
`TradebotError`, whose message is one line that names what was wrong. The CLI prints that line
and exits non-zero instead of showing a traceback.
"""


class TradebotError(Exception):
    """Base class of every expected, user-facing error."""


class SettingsError(TradebotError):
    """A params or conditions file or value is invalid."""


class CandleDataError(TradebotError):
    """Candle data is missing, malformed, unsorted, duplicated or not a price series."""


class OrderRejected(TradebotError):  # noqa: N818 -- named after the event, as Upbit names it
    """An order was refused, named with Upbit's own error name (e.g. `insufficient_funds_bid`)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
