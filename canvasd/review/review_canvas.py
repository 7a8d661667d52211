"""The day's review canvas (`Review/YYYY-MM-DD.canvas`) as one write request, applied to the newest file.

One group per source canvas; per card a question (cyan), a blank yellow answer slot under it, and a file node
linking back to the source canvas. Every node carries canvasd's provenance with the card it belongs to, so a
second build the same day finds what is there, adds only the cards not yet on it (below the others of their
source, the group grown to hold them) and never touches a node the learner wrote in or moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import xxhash

from canvasd.agents.base import ANSWER_COLOR, PROVENANCE_KEY, QUESTION_COLOR
from canvasd.canvas.commit import WriteRequest
from canvasd.canvas.ops import parse_ops
from canvasd.canvas.working import WorkingCanvas
from canvasd.types import JSONObject

AGENT = "review"
PAD, GAP = 40, 40
QUESTION_SIZE = (420, 120)
ANSWER_SIZE = (420, 180)
SOURCE_SIZE = (320, 80)
ROW_HEIGHT = QUESTION_SIZE[1] + GAP + ANSWER_SIZE[1] + GAP
GROUP_WIDTH = PAD + QUESTION_SIZE[0] + GAP + SOURCE_SIZE[0] + PAD
LABEL_SPACE = 30  # the group's label sits inside its top edge


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One card to review: its source node, what it is called and the question asked about it."""

    path: str
    node: str
    title: str
    question: str

    @property
    def card(self) -> str:
        """path#node: the card, as the nodes' provenance names it (the vault is the canvas's own)."""
        return f"{self.path}#{self.node}"


def node_id(card: str, role: str) -> str:
    """A stable id for a card's node on the day's canvas (so a second build recognises it)."""
    return f"review-{xxhash.xxh64_hexdigest(card.encode())[:12]}-{role}"


def cards_on(document: JSONObject | None) -> dict[str, JSONObject]:
    """card -> its question node, for every card on a review canvas."""
    found: dict[str, JSONObject] = {}
    nodes = (document or {}).get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        mark = node.get(PROVENANCE_KEY) if isinstance(node, dict) else None
        if isinstance(mark, dict) and mark.get("agent") == AGENT and mark.get("role") == "question" \
                and isinstance(mark.get("card"), str):
            found[mark["card"]] = node
    return found


def answers_on(document: JSONObject) -> list[tuple[str, JSONObject]]:
    """(card, answer node) for every answer slot on a review canvas."""
    found: list[tuple[str, JSONObject]] = []
    nodes = document.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        mark = node.get(PROVENANCE_KEY) if isinstance(node, dict) else None
        if isinstance(mark, dict) and mark.get("agent") == AGENT and mark.get("role") == "answer" \
                and isinstance(mark.get("card"), str):
            found.append((mark["card"], node))
    return found


class ReviewCanvasEdit(WriteRequest):
    """Add the cards not yet on the day's canvas (at most `limit` cards on it in all)."""

    def __init__(self, day: str, items: list[ReviewItem], limit: int) -> None:
        super().__init__()
        self._day = day
        self._items = items
        self._limit = limit
        self.op_count = len(items)
        self.added: list[str] = []
        """Cards this request added."""
        self.cards: list[str] = []
        """Every card on the canvas after it."""
        self.applied: list[JSONObject] = []
        """The ops it applied (what a proposal to the plugin carries)."""

    def apply(self, canvas: WorkingCanvas) -> None:
        self.added, self.applied = [], []
        if not canvas.exists:
            canvas.replace({"nodes": [], "edges": []})
        document = canvas.document() or {}
        present = cards_on(document)
        room = max(0, self._limit - len(present))
        new = [item for item in self._items if item.card not in present][:room]
        self.cards = [*present, *(item.card for item in new)]
        if not new:
            return
        nodes = [n for n in document.get("nodes") or [] if isinstance(n, dict)]
        groups = {mark["canvas"]: n for n in nodes if isinstance(mark := n.get(PROVENANCE_KEY), dict)
                  and mark.get("agent") == AGENT and mark.get("role") == "group"
                  and isinstance(mark.get("canvas"), str)}
        right = max((_number(n.get("x")) + _number(n.get("width")) for n in nodes), default=-GAP)
        ops: list[JSONObject] = []
        by_source: dict[str, list[ReviewItem]] = {}
        for item in new:
            by_source.setdefault(item.path, []).append(item)
        for source, items in by_source.items():
            group = groups.get(source)
            if group is None:
                x, top = right + GAP * 2, 0
                right = x + GROUP_WIDTH
                group = {"id": node_id(source, "group"), "type": "group", "label": PurePosixPath(source).stem,
                         "x": x, "y": top, "width": GROUP_WIDTH, "height": LABEL_SPACE + PAD,
                         PROVENANCE_KEY: self._mark("group", canvas=source)}
                ops.append({"op": "add_node", "node": group})
                rows_top = top + LABEL_SPACE + PAD
            else:
                rows_top = _number(group.get("y")) + _number(group.get("height"))
            for row, item in enumerate(items):
                ops += self._card_ops(item, _number(group.get("x")) + PAD, rows_top + row * ROW_HEIGHT)
            height = rows_top + len(items) * ROW_HEIGHT - _number(group.get("y")) + PAD - GAP
            ops.append({"op": "update_node", "id": group["id"], "set": {"height": height}})
            self.added += [item.card for item in items]
        canvas.apply(parse_ops(ops))
        self.applied = ops

    def _card_ops(self, item: ReviewItem, x: int, y: int) -> list[JSONObject]:
        question, answer, source = (node_id(item.card, role) for role in ("question", "answer", "source"))
        return [
            {"op": "add_node", "node": {"id": question, "type": "text", "text": item.question, "x": x, "y": y,
                                        "width": QUESTION_SIZE[0], "height": QUESTION_SIZE[1], "color": QUESTION_COLOR,
                                        PROVENANCE_KEY: self._mark("question", card=item.card)}},
            {"op": "add_node", "node": {"id": answer, "type": "text", "text": "",
                                        "x": x, "y": y + QUESTION_SIZE[1] + GAP, "width": ANSWER_SIZE[0],
                                        "height": ANSWER_SIZE[1], "color": ANSWER_COLOR,
                                        PROVENANCE_KEY: self._mark("answer", card=item.card)}},
            {"op": "add_node", "node": {"id": source, "type": "file", "file": item.path,
                                        "x": x + QUESTION_SIZE[0] + GAP, "y": y, "width": SOURCE_SIZE[0],
                                        "height": SOURCE_SIZE[1],
                                        PROVENANCE_KEY: self._mark("source", card=item.card)}},
            {"op": "add_edge", "edge": {"id": f"{question}-answer", "fromNode": question, "fromSide": "bottom",
                                        "toNode": answer, "toSide": "top"}},
            {"op": "add_edge", "edge": {"id": f"{question}-source", "fromNode": question, "fromSide": "right",
                                        "toNode": source, "toSide": "left"}},
        ]

    def _mark(self, role: str, **extra: str) -> dict[str, str]:
        return {"agent": AGENT, "role": role, "day": self._day, **extra}


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
