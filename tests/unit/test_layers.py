"""The layers of `src/tradebot` and the one direction of their imports (docs/ARCHITECTURE.md).

Every module's imports are read with `ast` (imports inside functions and `TYPE_CHECKING` blocks
count too: a late import is still a dependency) and checked against the rules below.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "tradebot"
PACKAGE = "tradebot"
ENTRY_MODULES = frozenset({"__main__"})  # `python -m tradebot`: part of the command line
EVERYTHING = frozenset({"core", "marketdata", "exchange", "backtest", "services", "engine", "ui", "cli"})
# Each layer and the layers it may import (itself included).
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "marketdata": frozenset({"core", "marketdata"}),
    "exchange": frozenset({"core", "marketdata", "exchange"}),
    "backtest": frozenset({"core", "marketdata", "backtest"}),
    "services": frozenset({"core", "marketdata", "exchange", "backtest", "services"}),
    "engine": frozenset({"core", "marketdata", "exchange", "backtest", "services", "engine"}),
    "ui": frozenset({"core", "marketdata", "exchange", "backtest", "services", "ui"}),
    "cli": EVERYTHING,
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One import that points the wrong way (or a module outside every layer)."""

    module: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path) -> str:
    """`tradebot.engine.live_loop` for `root/engine/live_loop.py` (root is the package directory)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def imported_modules(path: Path, module: str) -> list[tuple[str, int]]:
    """Every module `path` imports, absolute, with its line (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            # `from tradebot import cli` imports the module tradebot.cli, not a name of tradebot
            found.extend(
                (f"{base}.{alias.name}" if base == PACKAGE else base, node.lineno) for alias in node.names
            )
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def layer_of(module: str) -> str | None:
    """The layer a `tradebot...` module belongs to; None for the package root itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return "cli" if parts[1] in ENTRY_MODULES else parts[1]


def layer_violations(root: Path) -> list[Violation]:
    """Every import under `root` that breaks ALLOWED, and every module outside a known layer."""
    violations: list[Violation] = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        layer = layer_of(module)
        if layer is not None and layer not in ALLOWED:
            violations.append(Violation(module, "(no layer: put it in one of the layer packages)", 1))
            continue
        allowed = ALLOWED.get(layer, frozenset()) if layer else frozenset()
        for imported, line in imported_modules(path, module):
            if imported != PACKAGE and not imported.startswith(f"{PACKAGE}."):
                continue
            target = layer_of(imported)
            if target is None or target not in allowed:
                violations.append(Violation(module, imported, line))
    return sorted(set(violations), key=str)  # `from x import a, b` is one violation, not two


def test_layers_every_import_points_down_holds() -> None:
    violations = layer_violations(SOURCE)

    assert not violations, "imports against the layers:\n" + "\n".join(map(str, violations))


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        ("core/models.py", "from tradebot.services.db import open_user_store\n", "tradebot.services.db"),
        ("exchange/simulator/build.py", "from tradebot.backtest import synthetic\n", "tradebot.backtest"),
        (
            "ui/app.py",
            "def late() -> None:\n    import tradebot.engine.live_loop\n",
            "tradebot.engine.live_loop",
        ),
        ("engine/runner.py", "from tradebot import cli\n", "tradebot.cli"),
        ("services/db.py", "from ..engine import order_desk\n", "tradebot.engine"),
        ("backtest/runner.py", "from tradebot.services.settings_store import load\n", "tradebot.services"),
        ("helpers.py", "import json\n", "(no layer"),
    ],
)
def test_layer_violations_import_against_the_rules_is_reported(
    tmp_path: Path, relative: str, text: str, expected: str
) -> None:
    _write(tmp_path, relative, text)

    violations = layer_violations(tmp_path)

    assert len(violations) == 1
    assert violations[0].imported.startswith(expected)


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("cli/main.py", "from tradebot.engine.bootstrap import build_loop\nfrom tradebot.ui import app\n"),
        ("__main__.py", "from tradebot.cli import main\n"),
        ("engine/live_loop.py", "from tradebot.services.db import Store\nfrom . import order_desk\n"),
        ("ui/views/trades.py", "from ...services import audit_query\nfrom ..components import table\n"),
        ("exchange/simulator/build.py", "from tradebot.marketdata.candle_files import load\n"),
        ("core/strategy.py", "from decimal import Decimal\nfrom tradebot.core.params import Params\n"),
    ],
)
def test_layer_violations_import_within_the_rules_is_accepted(
    tmp_path: Path, relative: str, text: str
) -> None:
    _write(tmp_path, relative, text)

    assert layer_violations(tmp_path) == []
