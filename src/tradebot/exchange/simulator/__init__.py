"""A local Upbit: an HTTP server on loopback speaking Upbit's REST API (upbit-api.md §11).

Market data comes from a seeded random walk or a replayed candle file; accounts, JWTs, orders,
fees, rate limits and faults behave as documented for api.upbit.com. Start it with
`tradebot simulator`, or in tests with `server.SimulatorServer(config).start()`. This package
module stays light (no web framework imports) so the CLI starts fast.
"""

from tradebot.exchange.simulator.config import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    AccountConfig,
    SimulatorConfig,
    SimulatorConfigError,
    build_config,
    load_accounts,
)
from tradebot.exchange.simulator.faults import FaultSettings, ScheduledFault
from tradebot.exchange.simulator.ratelimit import RateLimitSettings

__all__ = [
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "AccountConfig",
    "FaultSettings",
    "RateLimitSettings",
    "ScheduledFault",
    "SimulatorConfig",
    "SimulatorConfigError",
    "build_config",
    "load_accounts",
]
