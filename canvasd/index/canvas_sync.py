"""Bringing one canvas's rows up to date: diff the canvas against the table, then write what changed.

`plan_canvas_sync` compares every node's record with its stored row. Unchanged rows are left alone. A changed
row whose content hash has a known vector (this row's own, or another node's with the same text, from the
embedding cache) is rewritten without embedding; only new texts go to the embedding model. Removed nodes
are deleted. The canvas's file signature is saved last, so a crash in between makes the next start redo it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from canvasd.index.records import NodeRecord, canvas_key, node_records, row_key
from canvasd.index.table import CanvasState, NodeTable, StoredNode

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from canvasd.canvas.learning import LearningStates
    from canvasd.embedding import EmbeddingService
    from canvasd.types import JSONObject


@dataclass(slots=True)
class CanvasSyncPlan:
    """What one canvas needs: rows to write, texts to embed first, node ids to delete."""

    vault: str
    path: str
    state: CanvasState
    changed_at: float  # when the canvas last changed (its file mtime): the time of new or edited rows
    generation: int = 0  # the table's generation the diff was made against
    upserts: list[NodeRecord] = field(default_factory=list)
    stored: dict[str, StoredNode] = field(default_factory=dict)
    vectors: dict[str, NDArray[np.float32]] = field(default_factory=dict)  # by content hash
    deletes: list[str] = field(default_factory=list)

    @property
    def canvas(self) -> str:
        """The canvas key (`vault/path`)."""
        return canvas_key(self.vault, self.path)

    def texts_to_embed(self) -> list[tuple[str, str]]:
        """(content hash, text) of every upserted row with no vector yet, each hash once."""
        missing: dict[str, str] = {}
        for record in self.upserts:
            if record.content_hash not in self.vectors:
                missing.setdefault(record.content_hash, record.text)
        return list(missing.items())

    @property
    def unchanged(self) -> bool:
        """Whether the rows already match the canvas (only its signature may need saving)."""
        return not self.upserts and not self.deletes


def plan_canvas_sync(table: NodeTable, embedding: EmbeddingService | None, states: LearningStates, *,
                     vault: str, path: str, document: JSONObject, state: CanvasState, changed_at: float,
                     reuse_vectors: bool) -> CanvasSyncPlan:
    """Diff one parsed canvas against its rows; with `reuse_vectors`, look up cached vectors for changed rows."""
    plan = CanvasSyncPlan(vault, path, state, changed_at, table.generation)
    plan.stored = table.canvas_nodes(plan.canvas)
    current = node_records(document, states)
    seen = {record.node_id for record in current}
    plan.upserts = [r for r in current if r.node_id not in plan.stored or not r.same_row(plan.stored[r.node_id].record)]
    plan.deletes = [node_id for node_id in plan.stored if node_id not in seen]
    if table.has_vectors and embedding is not None and reuse_vectors and plan.upserts:
        plan.vectors = embedding.cached([record.content_hash for record in plan.upserts])
    return plan


def plan_rows(plan: CanvasSyncPlan, embedded: dict[str, NDArray[np.float32]],
              has_vectors: bool) -> list[dict[str, Any]]:
    """The rows to upsert, with their times: first-seen kept, last-changed moved when text or state changed."""
    rows: list[dict[str, Any]] = []
    for record in plan.upserts:
        before = plan.stored.get(record.node_id)
        first_seen = before.first_seen if before is not None else plan.changed_at
        if before is not None and (before.record.content_hash == record.content_hash
                                   and before.record.state == record.state and before.record.type == record.type):
            last_changed = before.last_changed  # recoloured within the same state: not a learning change
        else:
            last_changed = plan.changed_at
        row: dict[str, Any] = {
            "key": row_key(plan.vault, plan.path, record.node_id), "canvas": plan.canvas, "vault": plan.vault,
            "path": plan.path, "node_id": record.node_id, "type": record.type, "text": record.text,
            "color": record.color, "state": record.state, "content_hash": record.content_hash,
            "first_seen": first_seen, "last_changed": last_changed,
        }
        if has_vectors:
            vector = plan.vectors.get(record.content_hash)
            row["vector"] = embedded[record.content_hash] if vector is None else vector
        rows.append(row)
    return rows


def apply_canvas_sync(table: NodeTable, plan: CanvasSyncPlan, embedded: dict[str, NDArray[np.float32]]) -> int:
    """Write the plan's rows and deletions, then the canvas's signature; the rows written.

    A plan made before the table was reset (a rebuild) is dropped: the rebuild's reconcile covers the canvas.
    """
    if plan.generation != table.generation:
        return 0
    rows = plan_rows(plan, embedded, table.has_vectors)
    table.upsert(rows)
    if plan.deletes:
        table.delete_nodes(plan.canvas, plan.deletes)
    table.set_canvas_state(plan.canvas, plan.vault, plan.path, plan.state)
    return len(rows)
