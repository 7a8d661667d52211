"""Graphiti's four search primitives, rewritten for FalkorDB so they sort and cut before they project.

Graphiti 0.31's FalkorDB queries end in `RETURN <fields>, properties(e) ORDER BY score LIMIT n`: FalkorDB
builds every field of every candidate (each with its 384-float embedding) before it sorts, so a fulltext
query whose words match thousands of facts spends ~30 ms serialising rows it then drops. These versions
order and limit first, then return only the fields canvasd reads. Plugged in through Graphiti's own
extension point (`driver.search_interface`), so Graphiti's `search()` still plans the methods, applies
`SearchFilters` (same WHERE clauses, built by Graphiti's constructors) and fuses the rankings with RRF.
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


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


class FalkorSearch(SearchInterface):
    """Fulltext and cosine search over canvasd's entities and facts on FalkorDB (see the module docstring)."""

    async def edge_fulltext_search(self, driver: Any, query: str, search_filter: Any,
                                   group_ids: list[str] | None = None, limit: int = 100) -> list[Any]:
        """Facts whose name or text match `query` (RediSearch BM25), best first."""
        fuzzy = fulltext_query(query, group_ids, driver)
        if not fuzzy:
            return []
        clauses, params = self._edge_filters(driver, search_filter, group_ids)
        cypher = ("CALL db.idx.fulltext.queryRelationships('RELATES_TO', $query) YIELD relationship AS e, score "
                  "WITH e, score, startNode(e) AS n, endNode(e) AS m"
                  + _where(["n:Entity", "m:Entity", *clauses])
                  + " WITH e, n, m, score ORDER BY score DESC LIMIT $limit RETURN " + EDGE_FIELDS)
        return await self._edges(driver, cypher, query=fuzzy, limit=limit, **params)

    async def edge_similarity_search(self, driver: Any, search_vector: list[float], source_node_uuid: str | None,
                                     target_node_uuid: str | None, search_filter: Any,
                                     group_ids: list[str] | None = None, limit: int = 100,
                                     min_score: float = 0.7) -> list[Any]:
        """Facts whose embedding is closest to `search_vector` (above `min_score`), best first."""
        clauses, params = self._edge_filters(driver, search_filter, group_ids)
        if source_node_uuid is not None:
            clauses.append("n.uuid = $source_uuid")
            params["source_uuid"] = source_node_uuid
        if target_node_uuid is not None:
            clauses.append("m.uuid = $target_uuid")
            params["target_uuid"] = target_node_uuid
        cypher = ("MATCH (n:Entity)-[e:RELATES_TO]->(m:Entity)" + _where(clauses)
                  + " WITH e, n, m, " + COSINE.format(field="e.fact_embedding") + " AS score"
                  " WHERE score > $min_score WITH e, n, m, score ORDER BY score DESC LIMIT $limit RETURN "
                  + EDGE_FIELDS)
        return await self._edges(driver, cypher, search_vector=search_vector, min_score=min_score, limit=limit,
                                 **params)

    async def node_fulltext_search(self, driver: Any, query: str, search_filter: Any,
                                   group_ids: list[str] | None = None, limit: int = 100) -> list[Any]:
        """Entities whose name or summary match `query` (RediSearch BM25), best first."""
        fuzzy = fulltext_query(query, group_ids, driver)
        if not fuzzy:
            return []
        clauses, params = self._node_filters(driver, search_filter, group_ids)
        cypher = ("CALL db.idx.fulltext.queryNodes('Entity', $query) YIELD node AS n, score" + _where(clauses)
                  + " WITH n, score ORDER BY score DESC LIMIT $limit RETURN " + NODE_FIELDS)
        return await self._nodes(driver, cypher, query=fuzzy, limit=limit, **params)

    async def node_similarity_search(self, driver: Any, search_vector: list[float], search_filter: Any,
                                     group_ids: list[str] | None = None, limit: int = 100,
                                     min_score: float = 0.7) -> list[Any]:
        """Entities whose embedding is closest to `search_vector` (above `min_score`), best first."""
        clauses, params = self._node_filters(driver, search_filter, group_ids)
        cypher = ("MATCH (n:Entity)" + _where(clauses)
                  + " WITH n, " + COSINE.format(field="n.name_embedding") + " AS score"
                  " WHERE score > $min_score WITH n, score ORDER BY score DESC LIMIT $limit RETURN " + NODE_FIELDS)
        return await self._nodes(driver, cypher, search_vector=search_vector, min_score=min_score, limit=limit,
                                 **params)

    @staticmethod
    def _edge_filters(driver: GraphDriver, search_filter: Any,
                      group_ids: list[str] | None) -> tuple[list[str], dict[str, Any]]:
        clauses, params = edge_search_filter_query_constructor(search_filter, driver.provider)
        if group_ids is not None:
            clauses.append("e.group_id IN $group_ids")
            params["group_ids"] = group_ids
        return clauses, params

    @staticmethod
    def _node_filters(driver: GraphDriver, search_filter: Any,
                      group_ids: list[str] | None) -> tuple[list[str], dict[str, Any]]:
        clauses, params = node_search_filter_query_constructor(search_filter, driver.provider)
        if group_ids is not None:
            clauses.append("n.group_id IN $group_ids")
            params["group_ids"] = group_ids
        return clauses, params

    @staticmethod
    async def _edges(driver: GraphDriver, cypher: str, **params: Any) -> list[EntityEdge]:
        records, _, _ = await driver.execute_query(cypher, **params)
        return [get_entity_edge_from_record(record, driver.provider) for record in records]

    @staticmethod
    async def _nodes(driver: GraphDriver, cypher: str, **params: Any) -> list[EntityNode]:
        records, _, _ = await driver.execute_query(cypher, **params)
        return [get_entity_node_from_record(record, driver.provider) for record in records]
