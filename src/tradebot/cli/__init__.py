"""The `tradebot` command line: every subcommand, one module each; the only package that uses every layer.

`main` is the console script's entry point (`tradebot = "tradebot.cli:main"`, `python -m tradebot`).
"""

from tradebot.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
