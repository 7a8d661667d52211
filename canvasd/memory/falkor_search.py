"""Graphiti's four search primitives, rewritten for FalkorDB: cheap plans, a stable order, cut before projecting.

They find what Graphiti 0.31's FalkorDB queries find, with the same scores, and differ in three ways:
- Graphiti's end in `RETURN <fields>, properties(e) ORDER BY score LIMIT n`: FalkorDB builds every field of
  every candidate (each with its 384-float embedding) before it sorts. These order and limit first, then
  return only the fields canvasd reads.
- Ties are broken by uuid (`ORDER BY score DESC, e.uuid`). Graphiti's leave them in storage order, which
  follows the history of writes rather than the query, so equal-scored facts (twin cards, state facts with the
  same wording) could swap places or fall on either side of the limit.
- The cosine searches fetch their candidates where FalkorDB has them cheaply. Scoped to canvases, facts come
  from the range index on `RELATES_TO.group_id`: Graphiti's pattern makes FalkorDB scan every entity and probe
  that index once per entity (~100 ms of server time at 10k facts, against ~4 ms). Graphiti's own filters
  (built by its constructors: labels, validity times) are applied after the score threshold, because testing
  the labels of both ends of every fact costs FalkorDB more than the cosine does (a quarter of the server
  time of a vault-wide search at 10k facts).
Plugged in through Graphiti's extension point (`driver.search_interface`), so Graphiti's `search()` still plans
the methods and fuses the rankings with RRF (its ties keep their input order, which is now stable too).

FalkorDB can also index relationship vectors (`CREATE VECTOR INDEX FOR ()-[e:RELATES_TO]-() ...` and
`db.idx.vector.queryRelationships`); it is not used: its HNSW search is approximate (90 % recall of the exact
top 40 at k = 40 on the 10k-fact benchmark graph), filters apply only after its k nearest, and it refuses
queries while it builds, so its answers would differ from Graphiti's exhaustive cosine search.
"""
from __future__ import annotations

from typing import Any

from canvasd.memory._graphiti import (
    EntityEdge,
    EntityNode,
    GraphDriver,
    SearchInterface,
    edge_search_filter_query_constructor,
    fulltext_query,
    get_entity_edge_from_record,
    get_entity_node_from_record,
    node_search_filter_query_constructor,
)

COSINE = "(2 - vec.cosineDistance({field}, vecf32($search_vector))) / 2"  # Graphiti's (1 + cos) / 2 scale
EDGE_FIELDS = """
    e.uuid AS uuid, n.uuid AS source_node_uuid, m.uuid AS target_node_uuid, e.group_id AS group_id,
    e.created_at AS created_at, e.name AS name, e.fact AS fact, e.episodes AS episodes,
    e.expired_at AS expired_at, e.valid_at AS valid_at, e.invalid_at AS invalid_at,
    e.reference_time AS reference_time,
    {kind: e.kind, vault: e.vault, canvas: e.canvas, node_id: e.node_id, from_node_id: e.from_node_id,
     to_node_id: e.to_node_id, edge_id: e.edge_id, state: e.state, label: e.label} AS attributes
"""
NODE_FIELDS = """
    n.uuid AS uuid, n.name AS name, n.group_id AS group_id, n.created_at AS created_at, n.summary AS summary,
    labels(n) AS labels,
    {vault: n.vault, canvas: n.canvas, node_id: n.node_id, node_type: n.node_type, state: n.state,
     color: n.color, removed_at: n.removed_at} AS attributes
"""
EDGE_TOP = " WITH e, n, m, score ORDER BY score DESC, e.uuid LIMIT $limit RETURN "
NODE_TOP = " WITH n, score ORDER BY score DESC, n.uuid LIMIT $limit RETURN "


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def edge_fulltext_cypher(clauses: list[str], returning: str = EDGE_FIELDS) -> str:
    """Facts matching `$query` in the fulltext index, filtered by `clauses`, top `$limit` by BM25 then uuid.

    `returning`: what to return of each (`e`, `n`, `m`, `score`); Graphiti's edge fields by default.
    """
    return ("CALL db.idx.fulltext.queryRelationships('RELATES_TO', $query) YIELD relationship AS e, score "
            "WITH e, score, startNode(e) AS n, endNode(e) AS m" + _where(["n:Entity", "m:Entity", *clauses])
            + EDGE_TOP + returning)


def edge_cosine_cypher(clauses: list[str], *, scoped: bool, returning: str = EDGE_FIELDS) -> str:
    """Facts above `$min_score` cosine, filtered by `clauses`, top `$limit` by score then uuid.

    `scoped`: only facts with `e.group_id IN $group_ids`, found through the range index on that property.
    """
    return ("MATCH ()-[e:RELATES_TO]->()" + (" WHERE e.group_id IN $group_ids" if scoped else "")
            + " WITH e, " + COSINE.format(field="e.fact_embedding") + " AS score WHERE score > $min_score"
            " WITH e, score, startNode(e) AS n, endNode(e) AS m" + _where(["n:Entity", "m:Entity", *clauses])
            + EDGE_TOP + returning)


def node_fulltext_cypher(clauses: list[str], returning: str = NODE_FIELDS) -> str:
    """Entities matching `$query` in the fulltext index, filtered by `clauses`, top `$limit` by BM25 then uuid."""
    return ("CALL db.idx.fulltext.queryNodes('Entity', $query) YIELD node AS n, score" + _where(clauses)
            + NODE_TOP + returning)


def node_cosine_cypher(clauses: list[str], *, scoped: bool, returning: str = NODE_FIELDS) -> str:
    """Entities above `$min_score` cosine, filtered by `clauses`, top `$limit` by score then uuid.

    `scoped`: only entities with `n.group_id IN $group_ids` (through the range index on that property).
    """
    return ("MATCH (n:Entity)" + (" WHERE n.group_id IN $group_ids" if scoped else "")
            + " WITH n, " + COSINE.format(field="n.name_embedding") + " AS score"
            + _where(["score > $min_score", *clauses]) + NODE_TOP + returning)


Query = tuple[str, dict[str, Any]]
"""A Cypher statement and its parameters."""


class FalkorSearch(SearchInterface):
    """Fulltext and cosine search over canvasd's entities and facts on FalkorDB (see the module docstring).

    Each primitive runs the statement its `*_query` method builds; `returning` there chooses the columns
    (tests ask for `uuid` and `score` to compare rankings with Graphiti's own queries).
    """

    async def edge_fulltext_search(self, driver: Any, query: str, search_filter: Any,
                                   group_ids: list[str] | None = None, limit: int = 100) -> list[Any]:
        """Facts whose name or text match `query` (RediSearch BM25), best first."""
        built = self.edge_fulltext_query(driver, query, search_filter, group_ids, limit)
        return [] if built is None else await self._edges(driver, *built)

    async def edge_similarity_search(self, driver: Any, search_vector: list[float], source_node_uuid: str | None,
                                     target_node_uuid: str | None, search_filter: Any,
                                     group_ids: list[str] | None = None, limit: int = 100,
                                     min_score: float = 0.7) -> list[Any]:
        """Facts whose embedding is closest to `search_vector` (above `min_score`), best first."""
        return await self._edges(driver, *self.edge_similarity_query(
            driver, search_vector, search_filter, group_ids, limit, min_score, source_node_uuid=source_node_uuid,
            target_node_uuid=target_node_uuid))

    async def node_fulltext_search(self, driver: Any, query: str, search_filter: Any,
                                   group_ids: list[str] | None = None, limit: int = 100) -> list[Any]:
        """Entities whose name or summary match `query` (RediSearch BM25), best first."""
        built = self.node_fulltext_query(driver, query, search_filter, group_ids, limit)
        return [] if built is None else await self._nodes(driver, *built)

    async def node_similarity_search(self, driver: Any, search_vector: list[float], search_filter: Any,
                                     group_ids: list[str] | None = None, limit: int = 100,
                                     min_score: float = 0.7) -> list[Any]:
        """Entities whose embedding is closest to `search_vector` (above `min_score`), best first."""
        return await self._nodes(driver, *self.node_similarity_query(driver, search_vector, search_filter, group_ids,
                                                                    limit, min_score))

    @staticmethod
    def edge_fulltext_query(driver: GraphDriver, query: str, search_filter: Any, group_ids: list[str] | None,
                            limit: int, returning: str = EDGE_FIELDS) -> Query | None:
        """The statement of `edge_fulltext_search` (None when the text leaves nothing to search for)."""
        fuzzy = fulltext_query(query, group_ids, driver)
        if not fuzzy:
            return None
        clauses, params = edge_search_filter_query_constructor(search_filter, driver.provider)
        if group_ids is not None:
            clauses.append("e.group_id IN $group_ids")
            params["group_ids"] = group_ids
        return edge_fulltext_cypher(clauses, returning), {**params, "query": fuzzy, "limit": limit}

    @staticmethod
    def edge_similarity_query(driver: GraphDriver, search_vector: list[float], search_filter: Any,
                              group_ids: list[str] | None, limit: int, min_score: float, *,
                              source_node_uuid: str | None = None, target_node_uuid: str | None = None,
                              returning: str = EDGE_FIELDS) -> Query:
        """The statement of `edge_similarity_search`."""
        clauses, params = edge_search_filter_query_constructor(search_filter, driver.provider)
        if source_node_uuid is not None:
            clauses.append("n.uuid = $source_uuid")
            params["source_uuid"] = source_node_uuid
        if target_node_uuid is not None:
            clauses.append("m.uuid = $target_uuid")
            params["target_uuid"] = target_node_uuid
        if group_ids is not None:
            params["group_ids"] = group_ids
        return (edge_cosine_cypher(clauses, scoped=group_ids is not None, returning=returning),
                {**params, "search_vector": search_vector, "min_score": min_score, "limit": limit})

    @staticmethod
    def node_fulltext_query(driver: GraphDriver, query: str, search_filter: Any, group_ids: list[str] | None,
                            limit: int, returning: str = NODE_FIELDS) -> Query | None:
        """The statement of `node_fulltext_search` (None when the text leaves nothing to search for)."""
        fuzzy = fulltext_query(query, group_ids, driver)
        if not fuzzy:
            return None
        clauses, params = node_search_filter_query_constructor(search_filter, driver.provider)
        if group_ids is not None:
            clauses.append("n.group_id IN $group_ids")
            params["group_ids"] = group_ids
        return node_fulltext_cypher(clauses, returning), {**params, "query": fuzzy, "limit": limit}

    @staticmethod
    def node_similarity_query(driver: GraphDriver, search_vector: list[float], search_filter: Any,
                              group_ids: list[str] | None, limit: int, min_score: float, *,
                              returning: str = NODE_FIELDS) -> Query:
        """The statement of `node_similarity_search`."""
        clauses, params = node_search_filter_query_constructor(search_filter, driver.provider)
        if group_ids is not None:
            params["group_ids"] = group_ids
        return (node_cosine_cypher(clauses, scoped=group_ids is not None, returning=returning),
                {**params, "search_vector": search_vector, "min_score": min_score, "limit": limit})

    @staticmethod
    async def _edges(driver: GraphDriver, cypher: str, params: dict[str, Any]) -> list[EntityEdge]:
        records, _, _ = await driver.execute_query(cypher, **params)
        return [get_entity_edge_from_record(record, driver.provider) for record in records]

    @staticmethod
    async def _nodes(driver: GraphDriver, cypher: str, params: dict[str, Any]) -> list[EntityNode]:
        records, _, _ = await driver.execute_query(cypher, **params)
        return [get_entity_node_from_record(record, driver.provider) for record in records]
