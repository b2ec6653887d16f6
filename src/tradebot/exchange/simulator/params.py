"""Request parameters as clients send them (upbit-api.md §1, §4.2, §9, §11.3).

GET/DELETE read the query string; when it is empty, a form body (pyupbit's GET) or a JSON body
(pyupbit's DELETE). POST reads the JSON body in document order. `key[]=` arrays and repeated keys
are both lists, `+` decodes to a space, and every text a client may have hashed for `query_hash`
is kept so authentication can compare against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode

from tradebot.exchange.simulator.errors import ApiError, validation_error

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RequestParams:
    """Parameters in sending order, plus the strings a client may have hashed for them."""

    pairs: Pairs = ()
    hash_candidates: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def first(self, key: str) -> str | None:
        """The first value of `key` (or `key[]`), None when absent."""
        values = self.values(key)
        return values[0] if values else None

    def values(self, key: str) -> list[str]:
        """Every value of `key` and `key[]`, in order."""
        return [value for name, value in self.pairs if name in (key, f"{key}[]")]

    def list_values(self, key: str) -> list[str]:
        """Values of `key`, with comma-separated ones split: `a,b` and `key=a&key=b` alike."""
        return [part.strip() for value in self.values(key) for part in value.split(",") if part.strip()]


EMPTY = RequestParams()


def from_query(raw: str) -> RequestParams:
    """Parameters of a raw query string or form body (percent- and plus-decoded)."""
    pairs = tuple(parse_qsl(raw, keep_blank_values=True))
    # The SDK hashes the unescaped text, pyupbit the escaped text with `[]` restored (§4.2).
    candidates = {raw, unquote(raw), raw.replace("%5B%5D=", "[]=")}
    return RequestParams(pairs, frozenset(candidates))


def from_json(body: bytes) -> RequestParams:
    """Parameters of a JSON object body; nested objects are refused."""
    if not body.strip():
        return EMPTY
    try:
        document = json.loads(body, parse_float=str, parse_int=str)
    except (ValueError, UnicodeDecodeError):
        raise validation_error("request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise validation_error("request body must be a JSON object")
    pairs: list[tuple[str, str]] = []
    for key, value in document.items():
        pairs.extend(_json_pairs(key, value))
    joined = "&".join(f"{key}={value}" for key, value in pairs)
    escaped = urlencode(pairs)
    return RequestParams(tuple(pairs), frozenset({joined, escaped, escaped.replace("%5B%5D=", "[]=")}))


def _json_pairs(key: str, value: object) -> list[tuple[str, str]]:
    if value is None:
        return []  # Upbit treats null as omitted (§3.6)
    if isinstance(value, list):
        array_key = key if key.endswith("[]") else f"{key}[]"
        return [pair for item in value for pair in _json_pairs(array_key, item)]
    if isinstance(value, bool):
        return [(key, "true" if value else "false")]
    if isinstance(value, str):
        return [(key, value)]
    raise validation_error(f"{key} does not have a valid value")


def from_body(body: bytes, content_type: str) -> RequestParams:
    """A GET/DELETE body: JSON when it says or looks so, else form-encoded."""
    if not body.strip():
        return EMPTY
    if "json" in content_type or body.lstrip().startswith(b"{"):
        return from_json(body)
    try:
        return from_query(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise validation_error("request body is not valid UTF-8") from None


def require(params: RequestParams, key: str, error: ApiError) -> str:
    """The value of `key`, or raise `error` when it is absent or empty."""
    value = params.first(key)
    if value is None or value == "":
        raise error
    return value
