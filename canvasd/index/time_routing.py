"""Time-range routing: filter on the last-changed time before the search (prefilter) or after it (postfilter).

A prefilter narrows the candidates through the BTree index on `last_changed` and wins when few rows match
("last 7 days" in an old vault). When most rows match, the search runs unfiltered with a larger limit and
the time range is applied to what comes back — cheaper with an ANN index, where a prefilter must evaluate the
filter across the partitions it probes. Both routes give the same answers: a postfilter that keeps fewer
rows than asked for, while more were available, is redone as a prefilter.

Full-text search is always postfiltered on time: LanceDB computes BM25 statistics over the prefiltered rows,
so a prefilter would rank differently from the same search filtered afterwards. A time range restricts which
notes are shown, not how words are weighted; the postfilter's shortfall is redone over every match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from canvasd.config import IndexSettings
from canvasd.index.query import SearchQuery
from canvasd.index.table import NodeTable

Route = Literal["none", "prefilter", "postfilter"]
_OVERFETCH = 1.5  # postfilter fetches limit / selectivity * this, plus a margin
_MARGIN = 10


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """How one query's time range is applied; `fetch` is the limit of the unfiltered postfilter search."""

    route: Route
    selectivity: float | None = None
    fetch: int = 0  # the limit of an unfiltered search expected to keep `depth` rows after the time filter
    total: int = 0  # rows in the table


class TimeRouter:
    """Chooses prefilter or postfilter from the share of rows the time range matches."""

    def __init__(self, table: NodeTable, settings: IndexSettings) -> None:
        self._table = table
        self._enabled = settings.time_routing
        self._threshold = settings.postfilter_min_selectivity

    def plan(self, query: SearchQuery, depth: int) -> RoutePlan:
        """The route for `query` when `depth` results are needed."""
        clause = query.time_clause()
        if clause is None:
            return RoutePlan("none")
        total = self._table.count()
        if total == 0:
            return RoutePlan("prefilter", 0.0, total=0)
        selectivity = self._table.nodes.count_rows(clause) / total  # answered from the BTree index
        fetch = min(total, math.ceil(depth / max(selectivity, 1e-9) * _OVERFETCH) + _MARGIN)
        if self._enabled and selectivity >= self._threshold:
            return RoutePlan("postfilter", selectivity, fetch, total)
        return RoutePlan("prefilter", selectivity, fetch, total)
