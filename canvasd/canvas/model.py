"""The JSON Canvas 1.0 model: node and edge shapes, and the problems a document or a new object can have.

Documents stay plain dicts so unknown keys survive; this module only knows what the spec requires.
Lenient on disk (`document_problems` reports, never repairs), strict on what a request introduces
(`node_problems` / `edge_problems`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from canvasd.errors import Problem
from canvasd.types import JSONObject

NODE_TYPES = ("text", "file", "link", "group")
SIDES = ("top", "right", "bottom", "left")
ENDS = ("none", "arrow")
BACKGROUND_STYLES = ("cover", "ratio", "repeat")
COLOR_RE = re.compile(r"^(?:[1-6]|#[0-9a-fA-F]{6})$")

NODE_GEOMETRY = ("x", "y", "width", "height")
NODE_REQUIRED = ("id", "type", *NODE_GEOMETRY)
TYPE_REQUIRED: dict[str, tuple[str, ...]] = {"text": ("text",), "file": ("file",), "link": ("url",), "group": ()}
EDGE_REQUIRED = ("id", "fromNode", "toNode")


def is_color(value: Any) -> bool:
    """True for a JSON Canvas colour: a preset "1".."6" or "#rrggbb"."""
    return isinstance(value, str) and COLOR_RE.match(value) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _problem(kind: str, obj_id: str | None, field: str | None, code: str, message: str) -> Problem:
    label = f"{kind} '{obj_id}'" if obj_id is not None else f"{kind} without id"
    return Problem(code=code, message=f"{label}: {message}", kind=kind, id=obj_id, field=field)


def _object_id(obj: JSONObject) -> str | None:
    value = obj.get("id")
    return value if isinstance(value, str) else None


def node_problems(node: Any, fields: Iterable[str] | None = None) -> list[Problem]:
    """Problems of a node; with `fields`, only those fields (plus the type's required ones) are checked."""
    if not isinstance(node, dict):
        return [Problem("not_object", f"node must be a JSON object, not {type(node).__name__}", kind="node")]
    nid = _object_id(node)
    check = set(NODE_REQUIRED) | set(node) if fields is None else set(fields)
    problems: list[Problem] = []

    def bad(field: str, code: str, message: str) -> None:
        problems.append(_problem("node", nid, field, code, message))

    ntype = node.get("type")
    if "type" in check:
        if ntype is None:
            bad("type", "missing_field", "missing required field 'type'")
        elif ntype not in NODE_TYPES:
            bad("type", "unknown_type", f"unknown node type {ntype!r} (expected one of {', '.join(NODE_TYPES)})")
        else:
            check.update(TYPE_REQUIRED[ntype])
    if "id" in check and (not isinstance(node.get("id"), str) or not node.get("id")):
        bad("id", "missing_field" if "id" not in node else "bad_value", "'id' must be a non-empty string")
    for field in NODE_GEOMETRY:
        if field not in check:
            continue
        if field not in node:
            bad(field, "missing_field", f"missing required field '{field}'")
        elif not _is_number(node[field]):
            bad(field, "bad_value", f"'{field}' must be a finite number, not {node[field]!r}")
        elif field in ("width", "height") and node[field] <= 0:
            bad(field, "bad_value", f"'{field}' must be positive, not {node[field]!r}")
    if ntype in TYPE_REQUIRED:
        for field in TYPE_REQUIRED[ntype]:
            if field in check and not isinstance(node.get(field), str):
                code = "missing_field" if field not in node else "bad_value"
                bad(field, code, f"a {ntype} node needs a string '{field}'")
    if "color" in check and "color" in node and not is_color(node["color"]):
        bad("color", "bad_color", f"colour {node['color']!r} is not '1'..'6' or '#rrggbb'")
    for field in ("label", "background"):
        if field in check and field in node and not isinstance(node[field], str):
            bad(field, "bad_value", f"'{field}' must be a string")
    if "subpath" in check and "subpath" in node:
        sub = node["subpath"]
        if not isinstance(sub, str) or not sub.startswith("#"):
            bad("subpath", "bad_value", "'subpath' must be a string starting with '#'")
    if "backgroundStyle" in check and "backgroundStyle" in node and node["backgroundStyle"] not in BACKGROUND_STYLES:
        bad("backgroundStyle", "bad_value", f"'backgroundStyle' must be one of {', '.join(BACKGROUND_STYLES)}")
    return problems


def edge_problems(edge: Any, fields: Iterable[str] | None = None) -> list[Problem]:
    """Problems of an edge's own fields (node references are checked by the caller, who knows the nodes)."""
    if not isinstance(edge, dict):
        return [Problem("not_object", f"edge must be a JSON object, not {type(edge).__name__}", kind="edge")]
    eid = _object_id(edge)
    check = set(EDGE_REQUIRED) | set(edge) if fields is None else set(fields)
    problems: list[Problem] = []

    def bad(field: str, code: str, message: str) -> None:
        problems.append(_problem("edge", eid, field, code, message))

    for field in EDGE_REQUIRED:
        if field in check and (not isinstance(edge.get(field), str) or not edge.get(field)):
            code = "missing_field" if field not in edge else "bad_value"
            bad(field, code, f"'{field}' must be a non-empty string")
    for field in ("fromSide", "toSide"):
        if field in check and field in edge and edge[field] not in SIDES:
            bad(field, "bad_value", f"'{field}' must be one of {', '.join(SIDES)}, not {edge[field]!r}")
    for field in ("fromEnd", "toEnd"):
        if field in check and field in edge and edge[field] not in ENDS:
            bad(field, "bad_value", f"'{field}' must be one of {', '.join(ENDS)}, not {edge[field]!r}")
    if "color" in check and "color" in edge and not is_color(edge["color"]):
        bad("color", "bad_color", f"colour {edge['color']!r} is not '1'..'6' or '#rrggbb'")
    if "label" in check and "label" in edge and not isinstance(edge["label"], str):
        bad("label", "bad_value", "'label' must be a string")
    return problems


def document_problems(doc: JSONObject) -> list[Problem]:
    """Everything wrong in a document as it is on disk: reported, never repaired."""
    problems: list[Problem] = []
    node_ids: set[str] = set()
    for key, kind, check in (("nodes", "node", node_problems), ("edges", "edge", edge_problems)):
        items = doc.get(key, [])
        if not isinstance(items, list):
            problems.append(Problem("not_array", f"'{key}' must be an array, not {type(items).__name__}", field=key))
            continue
        seen: set[str] = set()
        for item in items:
            problems.extend(check(item))
            oid = _object_id(item) if isinstance(item, dict) else None
            if oid is None:
                continue
            if oid in seen:
                problems.append(_problem(kind, oid, "id", "duplicate_id", f"id is used by more than one {kind}"))
            seen.add(oid)
        if kind == "node":
            node_ids = seen
    edges = doc.get("edges", [])
    for edge in edges if isinstance(edges, list) else []:
        if not isinstance(edge, dict):
            continue
        for field in ("fromNode", "toNode"):
            ref = edge.get(field)
            if isinstance(ref, str) and ref not in node_ids:
                problems.append(_problem("edge", _object_id(edge), field, "dangling_edge",
                                         f"'{field}' points at node '{ref}', which does not exist"))
    return problems


def node_text(node: JSONObject) -> str:
    """What a node says, as searched and embedded: its text, file path (+ subpath), url, or group label.

    Lone surrogates (legal in JSON escapes, not in UTF-8) are replaced, so the text can be stored and hashed.
    The semantic index and the memory graph both use it, so they embed the same texts and share vectors.
    """
    kind = node.get("type")
    if kind == "text":
        value = node.get("text")
    elif kind == "file":
        file, subpath = node.get("file"), node.get("subpath")
        value = f"{file} {subpath}" if isinstance(file, str) and isinstance(subpath, str) and subpath else file
    elif kind == "link":
        value = node.get("url")
    elif kind == "group":
        value = node.get("label")
    else:
        value = node.get("text") or node.get("label")
    return _valid_unicode(value.strip()) if isinstance(value, str) else ""


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
