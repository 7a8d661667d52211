"""The one place canvasd imports graphiti-core: telemetry off, `.env` files ignored, import warnings muted.

graphiti-core calls `load_dotenv()` while importing (in three modules) and reads a few tuning variables
(`SEMAPHORE_LIMIT`, index names, `EMBEDDING_DIM`) into module constants right after; it also sends usage
telemetry unless `GRAPHITI_TELEMETRY_ENABLED=false`. Setting `PYTHON_DOTENV_DISABLED=1` (python-dotenv >= 1.2)
before the first import turns every `load_dotenv()` into a no-op, so a stray `.env` in the working directory
or above the virtualenv cannot change what canvasd does. Import this module only from code that runs after
the daemon has started (it takes about a second and pulls in numpy, neo4j, openai and posthog).
"""

from __future__ import annotations

import os
import warnings

os.environ["GRAPHITI_TELEMETRY_ENABLED"] = "false"
os.environ["PYTHON_DOTENV_DISABLED"] = "1"

with warnings.catch_warnings():
    # graphiti-core 0.31 declares one pydantic model with a class-based `Config` (deprecated in pydantic 2).
    warnings.simplefilter("ignore", DeprecationWarning)
    from graphiti_core.cross_encoder.client import CrossEncoderClient
    from graphiti_core.driver.driver import GraphDriver, GraphProvider
    from graphiti_core.driver.search_interface.search_interface import SearchInterface
    from graphiti_core.edges import EntityEdge, get_entity_edge_from_record
    from graphiti_core.embedder.client import EmbedderClient
    from graphiti_core.graphiti_types import GraphitiClients
    from graphiti_core.helpers import parse_db_date
    from graphiti_core.llm_client.client import LLMClient
    from graphiti_core.nodes import EntityNode, get_entity_node_from_record
    from graphiti_core.search.search import search
    from graphiti_core.search.search_config import (
        EdgeReranker,
        EdgeSearchConfig,
        EdgeSearchMethod,
        NodeReranker,
        NodeSearchConfig,
        NodeSearchMethod,
        SearchConfig,
        SearchResults,
    )
    from graphiti_core.search.search_filters import (
        ComparisonOperator,
        DateFilter,
        SearchFilters,
        edge_search_filter_query_constructor,
        node_search_filter_query_constructor,
    )
    from graphiti_core.search.search_utils import DEFAULT_MIN_SCORE, fulltext_query
    from graphiti_core.tracer import NoOpTracer
    from graphiti_core.utils.bulk_utils import add_nodes_and_edges_bulk

__all__ = [
    "DEFAULT_MIN_SCORE",
    "ComparisonOperator",
    "CrossEncoderClient",
    "DateFilter",
    "EdgeReranker",
    "EdgeSearchConfig",
    "EdgeSearchMethod",
    "EmbedderClient",
    "EntityEdge",
    "EntityNode",
    "GraphDriver",
    "GraphProvider",
    "GraphitiClients",
    "LLMClient",
    "NoOpTracer",
    "NodeReranker",
    "NodeSearchConfig",
    "NodeSearchMethod",
    "SearchConfig",
    "SearchFilters",
    "SearchInterface",
    "SearchResults",
    "add_nodes_and_edges_bulk",
    "edge_search_filter_query_constructor",
    "fulltext_query",
    "get_entity_edge_from_record",
    "get_entity_node_from_record",
    "node_search_filter_query_constructor",
    "parse_db_date",
    "search",
]
