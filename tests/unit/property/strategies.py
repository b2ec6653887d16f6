"""Strategies and helpers the property tests share: JSON values and mutations of JSON documents."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Modest and without a deadline: the whole property suite must stay well under a minute.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW_EXAMPLES = settings(PROPERTY_SETTINGS, max_examples=60)

JSON_SCALARS: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)

Path = tuple[str | int, ...]


def json_paths(document: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path (dict keys and list indices) inside `document`, parents before children."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from json_paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield (*prefix, index)
            yield from json_paths(value, (*prefix, index))


def replaced(document: Any, path: Path, value: Any) -> Any:
    """A deep copy of `document` with the value at `path` replaced."""
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return result


def deleted(document: Any, path: Path) -> Any:
    """A deep copy of `document` without the element at `path`."""
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    del parent[path[-1]]
    return result


def one_line(message: str) -> bool:
    """True when `message` is a single non-empty line."""
    return bool(message) and "\n" not in message and "\r" not in message
