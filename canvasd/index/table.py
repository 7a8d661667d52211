"""The LanceDB tables of the index: one row per canvas node, and one row per indexed canvas.

The node table is named after the embedding model and dimension, which are also stored in its schema
metadata: a model change builds a new table and never mixes vectors. The canvas table remembers each
canvas's file signature, so a restart with nothing changed reads no canvas at all.

All methods block (LanceDB's synchronous API); the index calls them from worker threads. Writes are
serialised by one lock; reads run concurrently.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from canvasd.index.records import NodeRecord

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from lancedb.db import DBConnection
    from lancedb.table import LanceTable
    from numpy.typing import NDArray

log = logging.getLogger(__name__)

MODEL_KEY = b"canvasd.model"
DIM_KEY = b"canvasd.dim"
RESULT_COLUMNS = ["vault", "path", "node_id", "type", "text", "color", "state", "first_seen", "last_changed"]
_SCALAR_INDEXED = ("canvas", "last_changed", "content_hash")


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def table_names_for(model_id: str | None, dim: int | None) -> tuple[str, str]:
    """(node table, canvas table) names for a model; `None` model: the full-text-only tables."""
    slug = "fts_only" if model_id is None else re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_") + f"_{dim}"
    return f"nodes__{slug}", f"canvases__{slug}"


@dataclass(frozen=True, slots=True)
class StoredNode:
    """What the table holds about one node, as needed to diff it against the canvas."""

    record: NodeRecord
    first_seen: float
    last_changed: float


@dataclass(frozen=True, slots=True)
class CanvasState:
    """The file signature of a canvas when it was last indexed."""

    mtime_ns: int
    size: int
    version: str


class NodeTable:
    """The index's LanceDB database: node rows (with vectors unless full-text only) and canvas states."""

    def __init__(self, folder: Path, model_id: str | None, dim: int | None) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")  # read once, when LanceDB's native library loads
        import lancedb

        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder = folder
        self.model_id = model_id
        self.dim = dim
        self.name, self.canvas_name = table_names_for(model_id, dim)
        self._db: DBConnection = lancedb.connect(str(folder))
        self._write_lock = threading.Lock()
        self.generation = 0  # bumped by reset(): plans made before a rebuild are not written after it
        self._vector_indexed: bool | None = None
        self.nodes: LanceTable = self._open_nodes()
        self.canvases: LanceTable = self._open_canvases()

    # ------------------------------------------------------------------------------------ schema

    @property
    def has_vectors(self) -> bool:
        """Whether rows carry vectors (false for the full-text-only table)."""
        return self.model_id is not None

    def _node_schema(self) -> pa.Schema:
        import pyarrow as pa

        fields = [
            pa.field("key", pa.string(), nullable=False),
            pa.field("canvas", pa.string(), nullable=False),
            pa.field("vault", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False),
            pa.field("node_id", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("color", pa.string()),
            pa.field("state", pa.string(), nullable=False),
            pa.field("content_hash", pa.string(), nullable=False),
            pa.field("first_seen", pa.float64(), nullable=False),
            pa.field("last_changed", pa.float64(), nullable=False),
        ]
        metadata = {MODEL_KEY: b"", DIM_KEY: b"0"}
        if self.model_id is not None and self.dim is not None:
            fields.append(pa.field("vector", pa.list_(pa.float32(), self.dim)))
            metadata = {MODEL_KEY: self.model_id.encode(), DIM_KEY: str(self.dim).encode()}
        return pa.schema(fields, metadata=metadata)

    def _open_nodes(self) -> LanceTable:
        from lancedb.index import FTS, BTree

        schema = self._node_schema()
        if self.name in self._table_names():
            table = cast("LanceTable", self._db.open_table(self.name))
            if table.schema.metadata == schema.metadata and table.schema.names == schema.names:
                return table
            log.warning("index table %s was made for another model or layout; rebuilding it", self.name)
            self._db.drop_table(self.name)
        table = cast("LanceTable", self._db.create_table(self.name, schema=schema))
        table.create_index("text", config=FTS(base_tokenizer="icu", stem=False, remove_stop_words=False,
                                              ascii_folding=True, lower_case=True))
        for column in _SCALAR_INDEXED:
            table.create_index(column, config=BTree())
        return table

    def _open_canvases(self) -> LanceTable:
        import pyarrow as pa

        schema = pa.schema([
            pa.field("canvas", pa.string(), nullable=False), pa.field("vault", pa.string(), nullable=False),
            pa.field("path", pa.string(), nullable=False), pa.field("mtime_ns", pa.int64(), nullable=False),
            pa.field("size", pa.int64(), nullable=False), pa.field("version", pa.string(), nullable=False),
        ])
        if self.canvas_name in self._table_names():
            return cast("LanceTable", self._db.open_table(self.canvas_name))
        return cast("LanceTable", self._db.create_table(self.canvas_name, schema=schema))

    def _table_names(self) -> list[str]:
        return list(self._db.list_tables().tables)

    def drop_other_tables(self) -> list[str]:
        """Drop the tables of other models (after this model's table is complete); the names dropped."""
        dropped = [name for name in self._table_names() if name not in (self.name, self.canvas_name)]
        for name in dropped:
            self._db.drop_table(name)
        return dropped

    def reset(self) -> None:
        """Empty both tables (a rebuild)."""
        with self._write_lock:
            self.generation += 1
            self._vector_indexed = None
            self._db.drop_table(self.name)
            self._db.drop_table(self.canvas_name)
            self.nodes = self._open_nodes()
            self.canvases = self._open_canvases()

    # ------------------------------------------------------------------------------------ reads

    def count(self) -> int:
        """Node rows in the table."""
        return int(self.nodes.count_rows())

    def canvas_nodes(self, canvas: str) -> dict[str, StoredNode]:
        """The stored rows of one canvas, by node id."""
        columns = ["node_id", "type", "text", "color", "state", "content_hash", "first_seen", "last_changed"]
        rows = (self.nodes.search().where(f"canvas = {sql_string(canvas)}").select(columns).limit(None)
                .to_arrow().to_pylist())
        return {
            row["node_id"]: StoredNode(
                NodeRecord(row["node_id"], row["type"], row["text"], row["color"], row["state"], row["content_hash"]),
                row["first_seen"], row["last_changed"])
            for row in rows
        }

    def canvas_states(self) -> dict[str, CanvasState]:
        """Every indexed canvas's signature, by canvas key."""
        rows = self.canvases.search().limit(None).to_arrow().to_pylist()
        return {row["canvas"]: CanvasState(row["mtime_ns"], row["size"], row["version"]) for row in rows}

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """Stored vectors by content hash (the embedding cache's persistent tier)."""
        import numpy as np

        if not self.has_vectors or not hashes:
            return {}
        found: dict[str, NDArray[np.float32]] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 512):
            chunk = unique[start:start + 512]
            where = "content_hash IN (" + ",".join(sql_string(h) for h in chunk) + ")"
            table = self.nodes.search().where(where).select(["content_hash", "vector"]).limit(None).to_arrow()
            if table.num_rows == 0:
                continue
            vectors = table.column("vector").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            matrix = np.asarray(vectors, dtype=np.float32).reshape(table.num_rows, -1)
            for i, content_hash in enumerate(table.column("content_hash").to_pylist()):
                found.setdefault(content_hash, matrix[i])
        return found

    def node_vector(self, canvas: str, node_id: str) -> NDArray[np.float32] | None:
        """One node's vector, or None when it is not indexed."""
        import numpy as np

        if not self.has_vectors:
            return None
        where = f"canvas = {sql_string(canvas)} AND node_id = {sql_string(node_id)}"
        rows = self.nodes.search().where(where).select(["vector"]).limit(1).to_arrow()
        if rows.num_rows == 0:
            return None
        return np.asarray(rows.column("vector")[0].as_py(), dtype=np.float32)

    # ------------------------------------------------------------------------------------ writes

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace node rows by key."""
        if not rows:
            return
        with self._write_lock:
            (self.nodes.merge_insert("key").when_matched_update_all().when_not_matched_insert_all()
             .execute(rows))

    def delete_nodes(self, canvas: str, node_ids: Iterable[str]) -> None:
        """Delete some nodes of one canvas."""
        ids = list(node_ids)
        with self._write_lock:
            for start in range(0, len(ids), 512):
                chunk = ",".join(sql_string(i) for i in ids[start:start + 512])
                self.nodes.delete(f"canvas = {sql_string(canvas)} AND node_id IN ({chunk})")

    def delete_canvas(self, canvas: str) -> None:
        """Delete every row of one canvas and its state."""
        with self._write_lock:
            self.nodes.delete(f"canvas = {sql_string(canvas)}")
            self.canvases.delete(f"canvas = {sql_string(canvas)}")

    def set_canvas_state(self, canvas: str, vault: str, path: str, state: CanvasState) -> None:
        """Remember the signature a canvas had when its rows were brought up to date."""
        row = {"canvas": canvas, "vault": vault, "path": path, "mtime_ns": state.mtime_ns, "size": state.size,
               "version": state.version}
        with self._write_lock:
            (self.canvases.merge_insert("canvas").when_matched_update_all().when_not_matched_insert_all()
             .execute([row]))

    # ------------------------------------------------------------------------------------ maintenance

    def index_names(self) -> list[str]:
        """Names of the table's indexes."""
        return [index.name for index in self.nodes.list_indices()]

    def prewarm(self, name: str) -> None:
        """Ask LanceDB to load one index into memory."""
        self.nodes.prewarm_index(name)

    def has_vector_index(self) -> bool:
        """Whether an ANN index exists on the vector column (asked of LanceDB once; searches ask per query)."""
        if self._vector_indexed is None:
            self._vector_indexed = any("vector" in index.columns for index in self.nodes.list_indices())
        return self._vector_indexed

    def build_vector_index(self) -> None:
        """Build (or rebuild) the IVF_RQ vector index for cosine distance."""
        from lancedb.index import IvfRq

        with self._write_lock:
            self.nodes.create_index("vector", config=IvfRq(distance_type="cosine"), replace=True)
            self._vector_indexed = True

    def optimize(self) -> None:
        """Compact small fragments, fold new rows into the indexes, drop versions older than an hour."""
        from datetime import timedelta

        with self._write_lock:
            self.nodes.optimize(cleanup_older_than=timedelta(hours=1))
            self.canvases.optimize(cleanup_older_than=timedelta(hours=1))
