"""`tradebot why`: why one trade happened, from the user's audit alone (issue 13).

`tradebot why --user NAME --order IDENTIFIER [--json]` prints the trace `services.trade_trace`
builds: the order and fill, the candle (UTC and KST), the rule or command (who and why), every
condition with enabled / passed / value, and the settings version in force with its values.
`--trade ID` names a `trade_audit` row instead: a dust write-off or a manual row has no order.
The database is opened read-only; an unknown order or trade is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tradebot.cli.arguments import SubParsers
from tradebot.services.paths import data_home, database_path
from tradebot.services.storage import StorageError, Store
from tradebot.services.trade_trace import TradeTrace, trace_order, trace_trade
from tradebot.services.trade_trace_text import trace_document, trace_lines

NOT_FOUND = 2


def add_why_command(commands: SubParsers) -> None:
    """Register `why` on the top-level parser."""
    command = commands.add_parser("why", help="why one trade happened: its order, candle, rule and settings")
    command.add_argument("--user", required=True, help="whose database to read")
    target = command.add_mutually_exclusive_group(required=True)
    target.add_argument("--order", help="the order's identifier (or Upbit uuid), as the Audit Viewer shows")
    target.add_argument("--trade", type=int, help="a trade_audit id (dust write-offs and manual rows)")
    command.add_argument("--home", type=Path, help="data directory (default: the usual one)")
    command.add_argument("--json", action="store_true", help="print the trace as JSON")


def why_command(arguments: argparse.Namespace) -> int:
    """Print the trace of the order or trade asked for; exit 2 (one line on stderr) when unknown."""
    path = database_path(arguments.home or data_home(), arguments.user)
    if not path.is_file():  # reading must never create a database
        raise StorageError(f"no database for user {arguments.user!r} ({path})")
    with Store.open_read_only(path) as store:
        trace = _find(store, arguments)
    if trace is None:
        what = f"order {arguments.order!r}" if arguments.order is not None else f"trade #{arguments.trade}"
        print(f"tradebot: error: {arguments.user} has no {what}", file=sys.stderr)
        return NOT_FOUND
    document = trace_document(trace)
    if arguments.json:
        json.dump(document, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(trace_lines(document)))
    return 0


def _find(store: Store, arguments: argparse.Namespace) -> TradeTrace | None:
    if arguments.order is not None:
        return trace_order(store, arguments.order)
    return trace_trade(store, arguments.trade)
