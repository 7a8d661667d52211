"""The Graphiti graph driver for the configured backend: the embedded FalkorDB's socket, or `memory.uri`."""

from __future__ import annotations

import warnings
from pathlib import Path
from urllib.parse import urlsplit

from canvasd.config import MemorySettings
from canvasd.errors import SubsystemUnavailableError
from canvasd.memory._graphiti import GraphDriver

FALKOR_SCHEMES = ("falkor", "falkordb", "redis")
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def embedded_driver(socket_path: Path, database: str) -> GraphDriver:
    """A FalkorDB driver over the embedded server's Unix socket."""
    from falkordb.asyncio import FalkorDB

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from graphiti_core.driver.falkordb_driver import FalkorDriver

    return FalkorDriver(falkor_db=FalkorDB(unix_socket_path=str(socket_path)), database=database)


def remote_driver(settings: MemorySettings) -> GraphDriver:
    """A driver for `memory.uri`: falkor://host:port (FalkorDB) or bolt:// / neo4j:// (Neo4j)."""
    parts = urlsplit(settings.uri)
    password = settings.password
    user = settings.user or parts.username or None
    if parts.scheme in FALKOR_SCHEMES:
        from falkordb.asyncio import FalkorDB

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from graphiti_core.driver.falkordb_driver import FalkorDriver

        client = FalkorDB(host=parts.hostname or "localhost", port=parts.port or 6379, username=user,
                          password=password or parts.password)
        return FalkorDriver(falkor_db=client, database=settings.database)
    if parts.scheme in NEO4J_SCHEMES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from graphiti_core.driver.neo4j_driver import Neo4jDriver

        return Neo4jDriver(settings.uri, user, password or parts.password, database=settings.database)
    raise SubsystemUnavailableError(
        "memory", "failed",
        f"memory.uri '{settings.uri}' names no supported graph server; use falkor://host:port or "
        "bolt://host:port (Neo4j), or leave it empty for the embedded FalkorDB")
