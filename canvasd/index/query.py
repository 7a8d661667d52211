"""A search request as the index understands it: text, mode, filters and a time range, parsed and checked.

Relative times ("7d", "24h", "2w") count back from now; absolute times are ISO dates or datetimes (UTC when
no zone is given) or unix seconds. Filters become one SQL `WHERE` over the node table.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from canvasd.canvas.model import NODE_TYPES
from canvasd.errors import InvalidQueryError
from canvasd.index.table import sql_string

SearchMode = Literal["hybrid", "vector", "fts"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "fts")
MAX_LIMIT = 200
MAX_QUERY_CHARS = 2000
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(value: str, *, now: float | None = None, name: str = "since") -> float:
    """Unix seconds for `7d`, `24h`, `30min`, `2w` (before now), an ISO date/datetime, or unix seconds."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return (time.time() if now is None else now) - amount * _UNIT_SECONDS[unit]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQueryError(
            f"'{name}' must be a span like 7d, 24h or 2w, an ISO date such as 2026-11-01, or unix seconds; "
            f"got '{value}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to look for and where; `since`/`until` are unix seconds on the nodes' last-changed time."""

    text: str
    mode: SearchMode = "hybrid"
    limit: int = 10
    vault: str | None = None
    path_prefix: str | None = None
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    exclude_canvas: str | None = None  # `vault/path` of a canvas whose nodes are left out (related nodes)

    def __post_init__(self) -> None:
        if self.mode not in SEARCH_MODES:
            raise InvalidQueryError(f"'mode' must be one of {', '.join(SEARCH_MODES)}; got '{self.mode}'")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidQueryError(f"'limit' must be between 1 and {MAX_LIMIT}; got {self.limit}")
        if len(self.text) > MAX_QUERY_CHARS:
            raise InvalidQueryError(f"the query is {len(self.text)} characters; at most {MAX_QUERY_CHARS} are searched")
        unknown = [t for t in self.types if t not in NODE_TYPES]
        if unknown:
            raise InvalidQueryError(f"unknown node type {unknown[0]!r}; use {', '.join(NODE_TYPES)}")
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InvalidQueryError("'since' is after 'until': the time range is empty")

    @property
    def has_time_range(self) -> bool:
        """Whether the query filters on the last-changed time."""
        return self.since is not None or self.until is not None

    def with_mode(self, mode: SearchMode) -> SearchQuery:
        """The same query in another mode."""
        return replace(self, mode=mode)

    def in_time_range(self, last_changed: float) -> bool:
        """Whether a node changed at `last_changed` passes the time range."""
        return ((self.since is None or last_changed >= self.since)
                and (self.until is None or last_changed < self.until))

    def time_clause(self) -> str | None:
        """The time range as SQL, or None."""
        parts = []
        if self.since is not None:
            parts.append(f"last_changed >= {self.since!r}")
        if self.until is not None:
            parts.append(f"last_changed < {self.until!r}")
        return " AND ".join(parts) or None

    def where(self, *, with_time: bool = True) -> str | None:
        """Every filter as one SQL condition (the time range only when `with_time`)."""
        parts: list[str] = []
        if self.vault is not None:
            parts.append(f"vault = {sql_string(self.vault)}")
        if self.path_prefix:
            parts.append(f"starts_with(path, {sql_string(self.path_prefix)})")
        for column, values in (("type", self.types), ("state", self.states), ("color", self.colors)):
            if values:
                parts.append(f"{column} IN ({','.join(sql_string(v) for v in values)})")
        if self.exclude_canvas is not None:
            parts.append(f"canvas != {sql_string(self.exclude_canvas)}")
        time_clause = self.time_clause() if with_time else None
        if time_clause:
            parts.append(time_clause)
        return " AND ".join(parts) or None

