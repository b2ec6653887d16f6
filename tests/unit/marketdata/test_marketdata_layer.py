"""The layers below `services`: marketdata uses only core; exchange and backtest use core and marketdata.

Read from the source with `ast` (imports inside functions count too), so a new upward import fails
here before it becomes a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tradebot

PACKAGE_ROOT = Path(tradebot.__file__).parent
ALLOWED: dict[str, frozenset[str]] = {
    "marketdata": frozenset({"core", "marketdata"}),
    "exchange": frozenset({"core", "marketdata", "exchange"}),
    "backtest": frozenset({"core", "marketdata", "backtest"}),
}


def imported_layers(path: Path) -> set[str]:
    """The first-level tradebot packages (`core`, `services`, ...) that a module imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    parts = (name.split(".") for name in names)
    return {part[1] for part in parts if part[0] == "tradebot" and len(part) > 1}


def violations(layer: str) -> list[str]:
    """`module -> package` for every import of `layer` outside what it may use."""
    found = []
    for path in sorted((PACKAGE_ROOT / layer).rglob("*.py")):
        for imported in sorted(imported_layers(path) - ALLOWED[layer]):
            found.append(f"{path.relative_to(PACKAGE_ROOT)} -> {imported}")
    return found


@pytest.mark.parametrize("layer", list(ALLOWED))
def test_layer_imports_only_allowed_packages_has_no_violation(layer: str) -> None:
    assert (PACKAGE_ROOT / layer).is_dir()

    assert violations(layer) == []


def test_imported_layers_upward_import_is_found(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "from tradebot.core.models import CandleSeries\n"
        "def later() -> None:\n"
        "    from tradebot.services import settings_store\n"
        "    import tradebot.backtest.replay\n",
        encoding="utf-8",
    )

    assert imported_layers(module) == {"core", "services", "backtest"}
