"""What an agent may do, enforced by the runner whatever the agent returns.

An agent may add nodes and edges. It may change the colour of a node it was asked about, and nothing else of
it, only when its kind allows it (`Agent.recolours`). It never removes, moves or rewrites a node, never sets a
learner's colour (red, purple, green) on a node it adds, and every node it adds says where it comes from. A
breach refuses the whole answer: nothing of it is applied.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from canvasd.agents.base import LEARNER_COLORS, PROVENANCE_KEY, Agent
from canvasd.canvas.model import is_color
from canvasd.errors import AgentRuleError
from canvasd.types import JSONObject

MAX_ADDED_NODES = 64
"""Most nodes one agent call (one target node, or one selection) may add: a runaway answer is refused, not spread
over the canvas."""
MAX_TEXT_CHARS = 20_000
ADDABLE_TYPES = frozenset({"text", "file", "link"})
_GEOMETRY = ("x", "y", "width", "height")


@dataclass(slots=True)
class CheckedOps:
    """An agent's answer after the checks: new nodes (without a place yet), new edges, colour changes."""

    nodes: list[JSONObject] = field(default_factory=list)
    edges: list[JSONObject] = field(default_factory=list)
    colours: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.nodes or self.edges or self.colours)


def check_ops(agent: Agent, raw_ops: Sequence[Any], *, targets: Collection[str],
              existing: Collection[str]) -> CheckedOps:
    """The ops an agent returned, checked against the rules; AgentRuleError names the first breach.

    `targets`: ids of the nodes the run is about (the only ones a recolouring agent may recolour);
    `existing`: ids of every node on the canvas the run started from, and of what the run added so far.
    """
    checked = CheckedOps()
    new_ids: set[str] = set()

    def breach(reason: str) -> AgentRuleError:
        return AgentRuleError(agent.name, reason)

    for index, op in enumerate(raw_ops):
        if not isinstance(op, dict):
            raise breach(f"op {index} is not a JSON object")
        name = op.get("op")
        if name == "add_node":
            node = _checked_node(op.get("node"), existing, new_ids, breach)
            new_ids.add(node["id"])
            checked.nodes.append(node)
        elif name == "add_edge":
            checked.edges.append(_checked_edge(op.get("edge"), existing, new_ids, breach))
        elif name == "update_node":
            node_id, colour = _checked_colour(agent, op, targets, breach)
            checked.colours[node_id] = colour
        elif name in ("remove_node", "remove_edge"):
            raise breach(f"op {index} removes {name.split('_')[1]} '{op.get('id')}' (agents only add)")
        elif name == "update_edge":
            raise breach(f"op {index} changes edge '{op.get('id')}' (agents only add)")
        else:
            raise breach(f"op {index} is not an op of the engine's format ({name!r})")
    if len(checked.nodes) > MAX_ADDED_NODES:
        raise breach(f"it adds {len(checked.nodes)} nodes at once (at most {MAX_ADDED_NODES} per node it works on)")
    return checked


def _checked_node(node: Any, existing: Collection[str], new_ids: set[str], breach: Any) -> JSONObject:
    if not isinstance(node, dict):
        raise breach("add_node needs 'node': a JSON object")
    node_id = node.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise breach("a node it adds has no id")
    if node_id in existing or node_id in new_ids:
        raise breach(f"it adds node '{node_id}', whose id is taken")
    if node.get("type") not in ADDABLE_TYPES:
        raise breach(f"node '{node_id}' has type {node.get('type')!r} (agents add text, file and link nodes)")
    colour = node.get("color")
    if colour is not None and (not is_color(colour) or colour in LEARNER_COLORS):
        raise breach(f"node '{node_id}' has colour {colour!r} (red, purple and green are the learner's)")
    mark = node.get(PROVENANCE_KEY)
    if not isinstance(mark, dict) or not isinstance(mark.get("source"), str) or not isinstance(mark.get("role"), str):
        raise breach(f"node '{node_id}' does not say its source node and role in '{PROVENANCE_KEY}'")
    if mark["source"] not in existing and mark["source"] not in new_ids:
        raise breach(f"node '{node_id}' names source '{mark['source']}', which is not on the canvas")
    for key in ("text", "file", "url"):
        value = node.get(key)
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise breach(f"node '{node_id}' holds {len(value)} characters (at most {MAX_TEXT_CHARS})")
    # Where a node goes is the runner's decision: an agent's coordinates are dropped, never trusted.
    return {key: value for key, value in node.items() if key not in _GEOMETRY}


def _checked_edge(edge: Any, existing: Collection[str], new_ids: set[str], breach: Any) -> JSONObject:
    if not isinstance(edge, dict):
        raise breach("add_edge needs 'edge': a JSON object")
    edge_id = edge.get("id")
    if not isinstance(edge_id, str) or not edge_id:
        raise breach("an edge it adds has no id")
    for end in ("fromNode", "toNode"):
        ref = edge.get(end)
        if ref not in existing and ref not in new_ids:
            raise breach(f"edge '{edge_id}' points at node {ref!r}, which is neither on the canvas nor added")
    if edge.get("fromNode") not in new_ids and edge.get("toNode") not in new_ids:
        raise breach(f"edge '{edge_id}' links two of the learner's nodes (an agent links what it adds)")
    return dict(edge)


def _checked_colour(agent: Agent, op: JSONObject, targets: Collection[str], breach: Any) -> tuple[str, str]:
    node_id = op.get("id")
    changes = op.get("set")
    if not agent.recolours:
        raise breach(f"it changes node '{node_id}' (this agent only adds)")
    if node_id not in targets:
        raise breach(f"it recolours node '{node_id}', which it was not asked about")
    if op.get("unset") or not isinstance(changes, dict) or set(changes) != {"color"}:
        fields = sorted(set(changes or {}) | set(op.get("unset") or []))
        changed = ", ".join(repr(f) for f in fields)
        raise breach(f"it changes {changed} of node '{node_id}' (only its colour may change)")
    colour = changes["color"]
    if not is_color(colour):
        raise breach(f"it sets colour {colour!r} on node '{node_id}'")
    return str(node_id), colour
