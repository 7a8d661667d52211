"""An agent's checked answer as one write request: placed and applied at commit time, to the newest canvas.

The engine's writer calls `apply` with the canvas as it is on disk when the batch is committed (after any edit
the learner made meanwhile, and after earlier requests of the same batch), so new nodes are placed around
what is really there. A source node the learner deleted meanwhile takes its new nodes with it; a node a
recolour was meant for that is gone is left alone. Applied again (a proposal the plugin took late), what is on
the canvas already is not added twice.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from typing import Any

from canvasd.agents.base import PROVENANCE_KEY
from canvasd.agents.placement import Box, Placer, box_of, sides, text_size
from canvasd.agents.rules import CheckedOps
from canvasd.canvas.commit import WriteRequest
from canvasd.canvas.ops import parse_ops
from canvasd.canvas.working import WorkingCanvas
from canvasd.types import JSONObject

_OTHER_SIZE = (400, 120)  # file and link nodes: one line with a title


class AgentEdit(WriteRequest):
    """Add an agent's nodes (placed next to their sources) and edges, and apply its colour changes."""

    def __init__(self, checked: CheckedOps, provenance: dict[str, str]) -> None:
        super().__init__()
        self._checked = checked
        self._provenance = provenance  # {"agent": ..., "run": ...}
        self.op_count = len(checked.nodes) + len(checked.edges) + len(checked.colours)
        self.applied: list[JSONObject] = []
        """The ops as applied (with coordinates and sides), once the commit ran."""
        self.dropped: list[str] = []
        """Nodes left out because their source was removed meanwhile."""

    def again(self) -> AgentEdit:
        """The same answer as a new request (after the canvas kept changing while it was being committed)."""
        return AgentEdit(self._checked, self._provenance)

    def apply(self, canvas: WorkingCanvas) -> None:
        document = canvas.document() or {}
        nodes = document.get("nodes")
        current = [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []
        boxes = {n["id"]: box for n in current if isinstance(n.get("id"), str) and (box := box_of(n)) is not None}
        placed = self._place(_placer(canvas, current, len(boxes)), boxes)
        ops: list[JSONObject] = [{"op": "add_node", "node": node} for node in placed]
        edges = document.get("edges")
        ops += self._edges(boxes, {e.get("id") for e in edges if isinstance(e, dict)} if isinstance(edges, list)
                           else set())
        ops += [{"op": "update_node", "id": node_id, "set": {"color": colour}}
                for node_id, colour in self._checked.colours.items() if node_id in boxes]
        self.applied = ops
        if ops:
            canvas.apply(parse_ops(ops))

    def _place(self, placer: Placer, boxes: dict[str, Box]) -> list[JSONObject]:
        """Every new node with its place: grouped by source, in the order the agent gave them."""
        by_source: dict[str, list[JSONObject]] = defaultdict(list)
        for node in self._checked.nodes:
            by_source[node[PROVENANCE_KEY]["source"]].append(node)
        placed: list[JSONObject] = []
        for source, nodes in by_source.items():
            group = [node for node in nodes if node["id"] not in boxes]  # already there: applied once before
            anchor = boxes.get(source)
            if anchor is None:
                self.dropped += [node["id"] for node in group]
                continue
            sizes = [_size(node) for node in group]
            for node, box in zip(group, placer.place(anchor, sizes), strict=True):
                mark = {**node[PROVENANCE_KEY], **self._provenance}
                node = {**node, "x": int(box.x), "y": int(box.y), "width": int(box.width),
                        "height": int(box.height), PROVENANCE_KEY: mark}
                boxes[node["id"]] = box
                placed.append(node)
        return placed

    def _edges(self, boxes: dict[str, Box], existing: set[Any]) -> list[JSONObject]:
        ops: list[JSONObject] = []
        for edge in self._checked.edges:
            if edge.get("id") in existing:
                continue
            start, end = boxes.get(edge["fromNode"]), boxes.get(edge["toNode"])
            if start is None or end is None:
                continue  # an end was dropped with its source, or the learner removed it meanwhile
            from_side, to_side = sides(start, end)
            ops.append({"op": "add_edge", "edge": {**edge, "fromSide": from_side, "toSide": to_side}})
        return ops


# One Placer per commit: agents' edits committed together (a batch over one canvas) share it, so the spatial index
# of a large canvas is built once per write, not once per run, and each edit avoids what the earlier ones placed.
_PLACERS: weakref.WeakKeyDictionary[WorkingCanvas, Placer] = weakref.WeakKeyDictionary()


def _placer(canvas: WorkingCanvas, nodes: list[JSONObject], placeable: int) -> Placer:
    """The commit's Placer; built again when other requests of the batch changed the nodes since (`placeable`:
    how many nodes with a valid box the canvas holds now)."""
    placer = _PLACERS.get(canvas)
    if placer is None or placer.obstacle_count() != placeable:
        placer = _PLACERS[canvas] = Placer(nodes)
    return placer


def _size(node: JSONObject) -> tuple[int, int]:
    text: Any = node.get("text")
    return text_size(text) if isinstance(text, str) else _OTHER_SIZE
