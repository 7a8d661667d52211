"""The canvas op format, a public contract shared by the HTTP API, the CLI, agents and the Obsidian plugin.

    {"op": "add_node", "node": {...}}
    {"op": "update_node", "id": "...", "set": {...}, "unset": ["color"]}
    {"op": "remove_node", "id": "..."}
    {"op": "add_edge", "edge": {...}}      and update_edge / remove_edge likewise

A list of ops is applied in order, all or nothing (see `working.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from canvasd.errors import OpFormatError, Problem
from canvasd.types import JSONObject

Kind = Literal["node", "edge"]
OP_NAMES = ("add_node", "update_node", "remove_node", "add_edge", "update_edge", "remove_edge")
_OP_FIELDS = {
    "add": {"op", "node", "edge"},
    "update": {"op", "id", "set", "unset"},
    "remove": {"op", "id"},
}


@dataclass(frozen=True, slots=True)
class AddOp:
    """Add a node or an edge."""

    kind: Kind
    obj: JSONObject


@dataclass(frozen=True, slots=True)
class UpdateOp:
    """Merge `set` into a node or edge and drop the `unset` keys."""

    kind: Kind
    id: str
    set: JSONObject = field(default_factory=dict)
    unset: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoveOp:
    """Remove a node (and the edges touching it) or an edge."""

    kind: Kind
    id: str


Op = AddOp | UpdateOp | RemoveOp


def parse_ops(raw_ops: Any) -> list[Op]:
    """Validate the shape of an op list; raises OpFormatError naming every malformed op."""
    if not isinstance(raw_ops, list):
        raise OpFormatError([Problem("not_array", f"ops must be an array, not {type(raw_ops).__name__}", kind="op")])
    if not raw_ops:
        raise OpFormatError([Problem("empty", "ops must contain at least one op", kind="op")])
    ops: list[Op] = []
    problems: list[Problem] = []
    for index, raw in enumerate(raw_ops):
        try:
            ops.append(_parse_op(raw))
        except _Malformed as exc:
            problems.append(Problem("bad_op", f"op {index}: {exc}", kind="op", id=str(index)))
    if problems:
        raise OpFormatError(problems)
    return ops


class _Malformed(Exception):
    pass


def _parse_op(raw: Any) -> Op:
    if not isinstance(raw, dict):
        raise _Malformed(f"must be a JSON object, not {type(raw).__name__}")
    name = raw.get("op")
    if name not in OP_NAMES:
        raise _Malformed(f"unknown op {name!r} (expected one of {', '.join(OP_NAMES)})")
    action, kind = name.split("_")
    allowed = _OP_FIELDS[action] if action != "add" else {"op", kind}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _Malformed(f"{name} does not take {', '.join(repr(k) for k in unknown)}")
    if action == "add":
        obj = raw.get(kind)
        if not isinstance(obj, dict):
            raise _Malformed(f"{name} needs '{kind}': a JSON object")
        return AddOp(kind, obj)
    oid = raw.get("id")
    if not isinstance(oid, str) or not oid:
        raise _Malformed(f"{name} needs 'id': a non-empty string")
    if action == "remove":
        return RemoveOp(kind, oid)
    set_ = raw.get("set", {})
    unset = raw.get("unset", [])
    if not isinstance(set_, dict):
        raise _Malformed("'set' must be a JSON object")
    if not isinstance(unset, list) or not all(isinstance(k, str) for k in unset):
        raise _Malformed("'unset' must be an array of field names")
    if not set_ and not unset:
        raise _Malformed(f"{name} needs 'set' or 'unset'")
    both = sorted(set(set_) & set(unset))
    if both:
        raise _Malformed(f"fields both set and unset: {', '.join(both)}")
    if "id" in set_ or "id" in unset:
        raise _Malformed(f"a {kind}'s 'id' cannot change (remove it and add a new one)")
    return UpdateOp(kind, oid, set_, tuple(unset))
