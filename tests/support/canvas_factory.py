"""Generated canvases covering every layout and oddity of the real-world corpus (and what it lacks).

Texts are produced by independent formatters (the standard library's json with the separators and
indents each writer uses), never by canvasd itself, so round-trip tests cannot agree with a bug.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

BOM = "\ufeff"

ZH = ["极限的定义", "导数是变化率", "链式法则", "费曼学习法：用自己的话解释", "积分与面积", "泰勒展开"]
EN = ["Limits and continuity", "The derivative as a rate", "Chain rule", "Explain it in your own words",
      "Integrals measure area", "Taylor series"]


def node(i: int, **extra: Any) -> dict[str, Any]:
    """A text node in Obsidian's key order."""
    n: dict[str, Any] = {"id": f"{i:016x}", "type": "text", "text": f"# {ZH[i % 6]}\n{EN[i % 6]} ({i})",
                         "x": (i % 10) * 300, "y": (i // 10) * 200, "width": 250, "height": 140}
    n.update(extra)
    return n


def edge(i: int, a: int, b: int, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"id": f"e{i:015x}", "fromNode": f"{a:016x}", "fromSide": "right",
                         "toNode": f"{b:016x}", "toSide": "left"}
    e.update(extra)
    return e


def learning_doc(n_nodes: int = 6) -> dict[str, Any]:
    """A small bilingual learning canvas with the learning colours, a group, file and link nodes."""
    colors = ["1", "6", "4", "3", None, "#a882ff"]
    nodes = []
    for i in range(n_nodes):
        extra = {"color": colors[i % 6]} if colors[i % 6] else {}
        nodes.append(node(i, **extra))
    nodes.append({"id": "g1", "type": "group", "x": -50, "y": -50, "width": 3200, "height": 900,
                  "label": "微积分 Calculus"})
    nodes.append({"id": "f1", "type": "file", "file": "Notes/limits.md", "subpath": "#定义", "x": 0, "y": 600,
                  "width": 400, "height": 400})
    nodes.append({"id": "l1", "type": "link", "url": "https://jsoncanvas.org/spec/1.0/", "x": 500, "y": 600,
                  "width": 400, "height": 300, "color": "5"})
    edges = [edge(i, i, i + 1, label="leads to 推出") for i in range(n_nodes - 1)]
    edges.append({"id": "e-arrow", "fromNode": "f1", "toNode": "l1", "toEnd": "arrow", "fromEnd": "none", "color": "2"})
    return {"nodes": nodes, "edges": edges}


# ------------------------------------------------------------------------------------- formatters

def obsidian(doc: dict[str, Any]) -> str:
    """Obsidian's layout: tab-indented, one object per line, no spaces, no final newline."""
    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            items = ",\n".join("\t\t" + json.dumps(v, separators=(",", ":"), ensure_ascii=False) for v in value)
            parts.append(f'\t"{key}":[\n{items}\n\t]')
        else:
            parts.append(f'\t"{key}":' + json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    return "{\n" + ",\n".join(parts) + "\n}"


def pretty2(doc: dict[str, Any]) -> str:
    """Python's json.dump(indent=2), as scripts and MCP servers write canvases."""
    return json.dumps(doc, indent=2, ensure_ascii=False)


def tabs_multiline(doc: dict[str, Any]) -> str:
    """JSON.stringify(doc, null, '\\t') style: every key on its own line, tab indents."""
    return json.dumps(doc, indent="\t", separators=(",", ":"), ensure_ascii=False)


def minified(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def ascii_escaped(doc: dict[str, Any]) -> str:
    """Non-ASCII escaped as \\uXXXX (json.dump's default)."""
    return json.dumps(doc, indent=2)


LAYOUTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "obsidian": obsidian, "pretty2": pretty2, "tabs_multiline": tabs_multiline,
    "minified": minified, "ascii_escaped": ascii_escaped,
}


def variants() -> dict[str, str]:
    """Named canvas texts: every layout, plus CRLF, BOM, final newline and the corpus's oddities."""
    doc = learning_doc()
    out = {name: fmt(doc) for name, fmt in LAYOUTS.items()}
    out["obsidian_crlf"] = obsidian(doc).replace("\n", "\r\n")
    out["pretty2_crlf_final_newline"] = (pretty2(doc) + "\n").replace("\n", "\r\n")
    out["obsidian_bom"] = BOM + obsidian(doc)
    out["pretty2_bom_crlf"] = BOM + pretty2(doc).replace("\n", "\r\n")
    out["pretty2_final_newline"] = pretty2(doc) + "\n"
    out["edges_before_nodes"] = pretty2({"edges": doc["edges"], "nodes": doc["nodes"]})
    out["empty_arrays_tabs"] = '{\n\t"nodes":[],\n\t"edges":[]\n}'
    out["empty_arrays_edges_first"] = '{\n  "edges": [],\n  "nodes": []\n}'
    out["only_unknown_key"] = '{\n  "someOtherField": "value"\n}\n'
    out["empty_object"] = "{}"
    out["top_level_metadata"] = obsidian({**doc, "metadata": {"version": "1.0-1.0", "frontmatter": {}}})
    styled = {
        "nodes": [node(0, styleAttributes={"textAlign": "center"}), node(1, styleAttributes={}),
                  {**node(2), "meta": {"source": "gen", "tags": ["a", "b"], "nested": {"deep": [1, 2.5, None]}}}],
        "edges": [edge(0, 0, 1, styleAttributes={"path": "short-dashed"}, fromFloating=True, toFloating=False)],
    }
    out["plugin_keys_obsidian"] = obsidian(styled)
    out["plugin_keys_pretty2"] = pretty2(styled)
    out["plugin_keys_tabs"] = tabs_multiline(styled)
    floats = {"nodes": [node(0, x=-12.5, y=3.75, width=250.25), node(1, x=1e3)], "edges": []}
    out["float_coordinates"] = obsidian(floats)
    out["mixed_key_order"] = obsidian({"nodes": [
        {"x": 0, "y": 0, "id": "root-123", "width": 200, "height": 100, "type": "text", "text": "root"},
        {"id": "topic-A", "type": "text", "text": "A", "x": 300, "y": 0, "width": 200, "height": 100}],
        "edges": [{"id": "edge-1", "fromNode": "root-123", "toNode": "topic-A"}]})
    out["unknown_node_type"] = obsidian({"nodes": [node(0), {"id": "x1", "type": "excalidraw", "x": 0, "y": 0,
                                                             "width": 10, "height": 10, "data": {"v": 2}}],
                                         "edges": []})
    out["duplicate_ids"] = obsidian({"nodes": [node(0), node(1), {**node(1), "text": "dup"}], "edges": []})
    out["dangling_edges"] = obsidian({"nodes": [node(0)], "edges": [edge(0, 0, 99)]})
    out["escapes_verbatim"] = ('{\n\t"nodes":[\n\t\t{"id":"a","type":"text","text":"\\u4f60\\u597d \\/ \\"q\\" \\t",'
                               '"x":0,"y":0,"width":1,"height":1}\n\t],\n\t"edges":[]\n}')
    out["whitespace_oddities"] = ('{ "nodes" : [ {"id":"a","type":"text","text":"t","x":0,"y":0,"width":1,'
                                  '"height":1} ] ,\n"edges":[ ] }\n\n')
    return out


INVALID: dict[str, tuple[str, int, int, str]] = {
    # name: (text, line, column, reason)
    "trailing_comma_in_nodes": ('{\n  "nodes": [\n    {"id": "a"},\n  ],\n  "edges": []\n}', 4, 3, "trailing comma"),
    "trailing_comma_in_node": ('{"nodes":[{"id":"a",}],"edges":[]}', 1, 21, "trailing comma"),
    "truncated": ('{\n\t"nodes":[\n\t\t{"id":"a"', 3, 12, "unexpected end of file"),
    "array_top_level": ("[]", 1, 1, "a canvas must be a JSON object, not an array"),
}


def big_doc(target_bytes: int, seed: int = 7) -> dict[str, Any]:
    """A canvas of about `target_bytes` in Obsidian's layout (nodes with bilingual text, edges)."""
    rng = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    size = 30
    i = 0
    while size < target_bytes:
        words = " ".join(rng.choice(ZH + EN) for _ in range(rng.randint(3, 12)))
        n = node(i, text=words, color=rng.choice(["1", "3", "4", "6"]))
        nodes.append(n)
        size += len(json.dumps(n, ensure_ascii=False, separators=(",", ":")).encode()) + 4
        if i:
            e = edge(i, i - 1, i)
            edges.append(e)
            size += len(json.dumps(e, separators=(",", ":")).encode()) + 4
        i += 1
    return {"nodes": nodes, "edges": edges}
