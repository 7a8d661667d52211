"""What the index keeps of a canvas node: its indexed text, colour, learning state and content hash.

Pure functions over parsed canvas documents; no LanceDB here. The content hash covers exactly the text that
is embedded, so moving, resizing or recolouring a node keeps its hash (and its vector).
"""

from __future__ import annotations

from dataclasses import dataclass

from canvasd.canvas.learning import LearningStates
from canvasd.canvas.model import node_text
from canvasd.embedding.hashing import text_hash
from canvasd.types import JSONObject


def canvas_key(vault: str, path: str) -> str:
    """One canvas's id in the table: vault names hold no '/', so `vault/path` is unambiguous."""
    return f"{vault}/{path}"


def row_key(vault: str, path: str, node_id: str) -> str:
    """One node's id in the table (the merge key)."""
    return f"{vault}/{path}\x1f{node_id}"


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One canvas node as the index sees it."""

    node_id: str
    type: str
    text: str
    color: str | None
    state: str
    content_hash: str

    def same_row(self, other: NodeRecord) -> bool:
        """Whether the stored row needs no update (position and size are not indexed)."""
        return (self.content_hash == other.content_hash and self.type == other.type
                and self.color == other.color and self.state == other.state)


def node_records(document: JSONObject, states: LearningStates) -> list[NodeRecord]:
    """Every node of a canvas that has something to index (nodes with no text are skipped)."""
    nodes = document.get("nodes")
    records: dict[str, NodeRecord] = {}
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            continue
        text = node_text(node)
        if not text:
            continue
        color = node.get("color")
        kind = node.get("type")
        records[node["id"]] = NodeRecord(
            node_id=node["id"], type=kind if isinstance(kind, str) else "unknown", text=text,
            color=color.lower() if isinstance(color, str) else None, state=states.state_of(node),
            content_hash=text_hash(text),
        )
    return list(records.values())  # a duplicated id keeps its last node, as a reader of the file would
