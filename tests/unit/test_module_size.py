"""Small, readable units: no module of `src/tradebot` is over 400 lines (issue 13, DEVELOPERS' guide)."""

from __future__ import annotations

from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "tradebot"
MAX_LINES = 400


def test_modules_every_source_file_is_at_most_400_lines() -> None:
    too_long = {
        str(path.relative_to(SOURCE)): count
        for path in sorted(SOURCE.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these modules along their seams: {too_long}"


def test_modules_source_tree_is_found() -> None:
    assert len(list(SOURCE.rglob("*.py"))) > 50  # the size check above really reads the package
