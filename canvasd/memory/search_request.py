"""One memory search as the query cache and the graph see it: validated, normalised, keyed, with its scope.

Built once per call by `LearningMemory.search` and `search_cached`, so the cached lookup on the event loop and
the search in a worker thread agree on the key and the dependencies by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from canvasd.errors import InvalidQueryError
from canvasd.memory.mapping import CanvasGroup
from canvasd.memory.query_cache import ALL, Dependency, group_dependency, normalise_query, query_key, vault_dependency

MAX_LIMIT = 200


def utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """The parameters of one search, checked and normalised, and what the cache files its answer under."""

    query: str
    vault: str | None
    path: str | None
    group_id: str | None
    since: datetime | None
    until: datetime | None
    current_only: bool
    limit: int
    key: str
    deps: tuple[Dependency, ...]

    @classmethod
    def build(cls, q: str, *, vault: str | None, path: str | None, since: datetime | None, until: datetime | None,
              current_only: bool, limit: int, embedder: str) -> SearchRequest:
        """Check and normalise the arguments of `LearningMemory.search`; raises InvalidQueryError.

        `embedder`: the id of the model that embeds the query (part of the key: another model ranks otherwise).
        """
        since, until = utc(since), utc(until)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidQueryError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        if since is not None and until is not None and since > until:
            raise InvalidQueryError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
        if path is not None and vault is None:
            raise InvalidQueryError("a canvas path needs its vault")
        query = normalise_query(q)
        group_id = CanvasGroup(vault, path).group_id if path is not None and vault is not None else None
        deps: tuple[Dependency, ...] = ((group_dependency(group_id),) if group_id else
                                        (vault_dependency(vault),) if vault else (ALL,))
        key = query_key("search", q=query, vault=vault, path=path, since=since, until=until,
                        current_only=current_only, limit=limit, embedder=embedder)
        return cls(query, vault, path, group_id, since, until, current_only, limit, key, deps)
