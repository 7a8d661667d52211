"""A canvas being changed by one batch of write requests: copy-on-write over the document on disk.

Untouched nodes and edges stay the very objects of the parsed document, so rendering (`layout.py`) keeps
their bytes without comparing them. Each request is staged and either committed to the batch or rolled
back, so a list of ops is all or nothing and a failed request leaves the batch as it was.
"""

from __future__ import annotations

from typing import Any

from canvasd.canvas.model import document_problems, edge_problems, node_problems
from canvasd.canvas.ops import AddOp, Kind, Op, RemoveOp, UpdateOp
from canvasd.errors import CanvasValidationError, Problem
from canvasd.types import JSONObject

_REMOVED: Any = object()
_ABSENT: Any = object()  # the document has no such key (unlike a key holding null)


class _OpFailed(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _string_id(item: Any) -> str | None:
    """An item's id if it is a string (a malformed file may hold anything there)."""
    oid = item.get("id") if type(item) is dict else None
    return oid if type(oid) is str else None


class _Collection:
    """The nodes or edges of the working canvas: positions over the original list plus staged changes."""

    def __init__(self, key: str, items: Any) -> None:
        self.key = key
        self.valid = items is _ABSENT or isinstance(items, list)
        self.base: list[Any] = items if isinstance(items, list) else []
        self.size = len(self.base)
        self.changes: dict[int, Any] = {}
        self._ids: dict[str, list[int]] | None = None
        self.staged: dict[int, Any] = {}
        self.staged_ids: dict[str, list[int]] = {}
        self.staged_size = self.size

    def _index(self) -> dict[str, list[int]]:
        if self._ids is None:
            ids = [_string_id(item) for item in self.base]
            index: dict[Any, list[int]] = {oid: [pos] for pos, oid in enumerate(ids)}
            if len(index) < len(ids):  # duplicates (or items without id): keep every position
                index = {}
                for pos, oid in enumerate(ids):
                    index.setdefault(oid, []).append(pos)
            index.pop(None, None)
            self._ids = index
            return index
        return self._ids

    def get(self, pos: int) -> Any:
        if pos in self.staged:
            return self.staged[pos]
        if pos in self.changes:
            return self.changes[pos]
        return self.base[pos]

    def find(self, oid: str) -> list[int]:
        """Positions of the live items with this id."""
        positions = self._index().get(oid, []) + self.staged_ids.get(oid, [])
        return [p for p in positions if self.get(p) is not _REMOVED]

    def touching(self, node_id: str) -> list[int]:
        """Positions of the live edges that start or end at `node_id`."""
        hits = [pos for pos, e in enumerate(self.base)
                if type(e) is dict and (e.get("fromNode") == node_id or e.get("toNode") == node_id)]
        changed = {**self.changes, **self.staged}
        if changed:
            hits = [pos for pos in hits if pos not in changed]
            hits += [pos for pos, e in changed.items()
                     if type(e) is dict and node_id in (e.get("fromNode"), e.get("toNode"))]
        return hits

    def add(self, item: JSONObject) -> None:
        pos = self.staged_size
        self.staged_size += 1
        self.staged[pos] = item
        self.staged_ids.setdefault(item["id"], []).append(pos)

    def set(self, pos: int, item: Any) -> None:
        self.staged[pos] = item

    def commit(self) -> None:
        self.changes.update(self.staged)
        if self.staged_ids:
            index = self._index()
            for oid, positions in self.staged_ids.items():
                index.setdefault(oid, []).extend(positions)
        self.size = self.staged_size
        self.rollback()

    def rollback(self) -> None:
        self.staged = {}
        self.staged_ids = {}
        self.staged_size = self.size

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def result(self) -> list[Any]:
        if not self.changes:
            return self.base
        items = list(self.base)  # copied at C speed; only changed positions are touched
        base_len = len(items)
        removed = False
        for pos in sorted(self.changes):
            item = self.changes[pos]
            removed = removed or item is _REMOVED
            if pos < base_len:
                items[pos] = item
            elif item is not _REMOVED:
                items.append(item)
        return [item for item in items if item is not _REMOVED] if removed else items


class WorkingCanvas:
    """The state of one canvas while a batch of requests is applied to it."""

    def __init__(self, document: JSONObject | None) -> None:
        self._reset(document)
        self.touched = False  # some request changed the canvas since the batch started

    def _reset(self, document: JSONObject | None) -> None:
        self.base = document
        self.nodes = _Collection("nodes", _ABSENT if document is None else document.get("nodes", _ABSENT))
        self.edges = _Collection("edges", _ABSENT if document is None else document.get("edges", _ABSENT))
        self.replaced = False

    @property
    def exists(self) -> bool:
        return self.base is not None

    def document(self) -> JSONObject | None:
        """The canvas after every committed request; the original object when nothing changed."""
        if self.base is None or not (self.nodes.changed or self.edges.changed):
            return self.base
        doc = dict(self.base)
        for coll in (self.nodes, self.edges):
            if coll.changed:
                doc[coll.key] = coll.result()
        return doc

    # ----------------------------------------------------------------------------------- requests

    def apply(self, ops: list[Op]) -> None:
        """Apply ops in order, all or nothing; raises CanvasValidationError listing every problem."""
        problems: list[Problem] = []
        for op in ops:
            try:
                problems.extend(self._apply(op))
            except _OpFailed as failed:
                problems.append(failed.problem)
            except Exception:
                self._rollback()
                raise
        if problems:
            self._rollback()
            raise CanvasValidationError(problems)
        self.nodes.commit()
        self.edges.commit()
        self.touched = True

    def replace(self, document: JSONObject) -> None:
        """Replace the whole canvas; only problems the new document introduces are refused."""
        problems = _introduced_problems(self.document() or {}, document)
        if problems:
            raise CanvasValidationError(problems)
        self._reset(document)
        self.replaced = True
        self.touched = True

    def delete(self) -> None:
        """Remove the canvas."""
        self._reset(None)
        self.touched = True

    def _rollback(self) -> None:
        self.nodes.rollback()
        self.edges.rollback()

    # --------------------------------------------------------------------------------------- ops

    def _collection(self, kind: Kind) -> _Collection:
        coll = self.nodes if kind == "node" else self.edges
        if not coll.valid:
            value = (self.base or {}).get(coll.key)
            raise _OpFailed(Problem("not_array", f"the canvas's '{coll.key}' is not an array "
                                    f"(it is {type(value).__name__}); fix the file first", field=coll.key))
        return coll

    def _one(self, kind: Kind, oid: str) -> int:
        positions = self._collection(kind).find(oid)
        if not positions:
            raise _OpFailed(Problem("not_found", f"{kind} '{oid}' does not exist", kind=kind, id=oid))
        if len(positions) > 1:
            raise _OpFailed(Problem("ambiguous_id", f"{kind} id '{oid}' is used {len(positions)} times in the "
                                    "canvas; fix the file first", kind=kind, id=oid))
        return positions[0]

    def _apply(self, op: Op) -> list[Problem]:
        coll = self._collection(op.kind)
        if isinstance(op, AddOp):
            return self._add(coll, op)
        if isinstance(op, UpdateOp):
            return self._update(coll, op)
        return self._remove(coll, op)

    def _add(self, coll: _Collection, op: AddOp) -> list[Problem]:
        obj = op.obj
        problems = node_problems(obj) if op.kind == "node" else edge_problems(obj)
        oid = obj.get("id")
        if not isinstance(oid, str) or not oid:
            return problems
        if coll.find(oid):
            problems.append(Problem("duplicate_id", f"{op.kind} '{oid}' already exists", kind=op.kind, id=oid,
                                    field="id"))
            return problems
        if op.kind == "edge":
            problems.extend(self._missing_ends(obj, ("fromNode", "toNode")))
        coll.add(obj)
        return problems

    def _update(self, coll: _Collection, op: UpdateOp) -> list[Problem]:
        pos = self._one(op.kind, op.id)
        old = coll.get(pos)
        if not isinstance(old, dict):
            raise _OpFailed(Problem("not_object", f"{op.kind} '{op.id}' is not a JSON object", kind=op.kind,
                                    id=op.id))
        new = {**old, **op.set}
        for key in op.unset:
            new.pop(key, None)
        fields = set(op.set) | set(op.unset)
        problems = node_problems(new, fields) if op.kind == "node" else edge_problems(new, fields)
        if op.kind == "edge":
            problems.extend(self._missing_ends(new, [f for f in ("fromNode", "toNode") if f in op.set]))
        coll.set(pos, new)
        return problems

    def _remove(self, coll: _Collection, op: RemoveOp) -> list[Problem]:
        pos = self._one(op.kind, op.id)
        coll.set(pos, _REMOVED)
        if op.kind == "node" and not self.nodes.find(op.id) and self.edges.valid:
            for epos in self.edges.touching(op.id):
                self.edges.set(epos, _REMOVED)
        return []

    def _missing_ends(self, edge: JSONObject, fields: Any) -> list[Problem]:
        problems = []
        for end in fields:
            ref = edge.get(end)
            if isinstance(ref, str) and not self._collection("node").find(ref):
                problems.append(Problem("dangling_edge", f"edge '{edge.get('id')}': '{end}' points at node "
                                        f"'{ref}', which does not exist", kind="edge", id=edge.get("id"), field=end))
        return problems


def _problem_key(p: Problem) -> tuple[str, str | None, str | None, str | None, str]:
    return (p.code, p.kind, p.id, p.field, p.message)


def _introduced_problems(current: JSONObject, new: Any) -> list[Problem]:
    """Problems in `new` that `current` does not already have (those are kept, not refused)."""
    if not isinstance(new, dict):
        return [Problem("not_object", f"a canvas must be a JSON object, not {type(new).__name__}")]
    known: dict[tuple[str, str | None, str | None, str | None, str], int] = {}
    for p in document_problems(current):
        known[_problem_key(p)] = known.get(_problem_key(p), 0) + 1
    introduced = []
    for p in document_problems(new):
        key = _problem_key(p)
        if known.get(key):
            known[key] -= 1
        else:
            introduced.append(p)
    return introduced
