"""What an agent is: a plugin that reads one canvas and answers with ops in the engine's op format.

An agent never touches files. It gets an `AgentContext` (the canvas as it was when the run started, the nodes
it was asked about, its options, the semantic index and the memory) and returns an `AgentOutput`: ops plus a
short JSON result. The runner checks the ops against the rules (add nodes and edges only; a colour change
only on an asked-about node, and only for an agent whose kind allows it), sizes and places the new nodes in
free space, and applies them through the engine's writer to the newest content on disk.

Every node an agent adds carries its provenance under `PROVENANCE_KEY`: the agent fills in `source` (the
node it answers) and `role` (question, answer, table, related, score, ...); the runner adds `agent` and `run`.
Nodes an agent adds may leave out `x`, `y`, `width` and `height`: the runner sizes them to their text and
places them next to their source node.

Two ways to answer, both on the agent:
- `offline(ctx)`: always available, no network; a blocking function the runner calls in a worker thread.
- with an LLM configured and a `schema`, the runner sends `prompt(ctx)`, validates the answer against
  `schema` and hands it to `from_answer(ctx, answer)`; on an invalid or missing answer it retries once, then
  falls back to `offline`. With `stream_items` naming a top-level array of the answer, items are placed on the
  canvas as they arrive: `from_answer` is called with the new items only (`answer[stream_items]`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from canvasd.canvas.model import node_text
from canvasd.types import JSONObject

if TYPE_CHECKING:
    from canvasd.canvas.learning import LearningStates
    from canvasd.index.semantic_index import SemanticIndex
    from canvasd.memory.subsystem import MemorySubsystem

PROVENANCE_KEY = "canvasd"
"""Node key holding an agent-added node's provenance: {"agent", "run", "source", "role"}."""

QUESTION_COLOR = "5"  # cyan: questions an agent asks
ANSWER_COLOR = "3"    # yellow: a blank slot for the learner's own answer
LEARNER_COLORS = frozenset({"1", "4", "6"})  # red, green, purple: the learner's judgement, never an agent's


class CanvasView:
    """A read-only view of the canvas a run started from: nodes by id, edges, neighbours, learning states."""

    def __init__(self, document: JSONObject, states: LearningStates) -> None:
        nodes = document.get("nodes")
        edges = document.get("edges")
        self._nodes: list[JSONObject] = [n for n in nodes if isinstance(n, dict)] if isinstance(nodes, list) else []
        self._edges: list[JSONObject] = [e for e in edges if isinstance(e, dict)] if isinstance(edges, list) else []
        self._by_id: dict[str, JSONObject] = {}
        for node in self._nodes:
            nid = node.get("id")
            if isinstance(nid, str):
                self._by_id.setdefault(nid, node)
        self._states = states

    def nodes(self) -> Iterator[JSONObject]:
        """Every node (a dict each), in canvas order."""
        return iter(self._nodes)

    def edges(self) -> Iterator[JSONObject]:
        """Every edge (a dict each), in canvas order."""
        return iter(self._edges)

    def node(self, node_id: str) -> JSONObject | None:
        """The node with this id, if there is one."""
        return self._by_id.get(node_id)

    def text(self, node_id: str) -> str:
        """What the node says (its text, file, url or group label); empty for an unknown node."""
        node = self._by_id.get(node_id)
        return node_text(node) if node is not None else ""

    def state(self, node: JSONObject) -> str:
        """The node's learning state by its colour ("not_understood", ..., or "unmarked")."""
        return self._states.state_of(node)

    def neighbours(self, node_id: str) -> list[tuple[JSONObject, JSONObject]]:
        """(edge, other node) for every edge between this node and another, in canvas order."""
        found: list[tuple[JSONObject, JSONObject]] = []
        for edge in self._edges:
            ends = (edge.get("fromNode"), edge.get("toNode"))
            if node_id not in ends:
                continue
            other_id = ends[1] if ends[0] == node_id else ends[0]
            other = self._by_id.get(other_id) if isinstance(other_id, str) else None
            if other is not None and other_id != node_id:
                found.append((edge, other))
        return found

    def added_by_agents(self, source: str, role: str | None = None) -> list[JSONObject]:
        """Nodes agents added earlier for `source` (optionally of one role), from their provenance key."""
        found = []
        for node in self._nodes:
            mark = node.get(PROVENANCE_KEY)
            if isinstance(mark, dict) and mark.get("source") == source and (role is None or mark.get("role") == role):
                found.append(node)
        return found


@dataclass(frozen=True, slots=True)
class AgentContext:
    """What one agent call may read; changing it changes nothing (the runner only applies returned ops)."""

    vault: str
    path: str
    run_id: str
    canvas: CanvasView
    targets: tuple[JSONObject, ...]
    """The nodes this call is about (one per call for a per-node agent)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    index: SemanticIndex | None = None
    memory: MemorySubsystem | None = None
    llm_configured: bool = False
    ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 1 << 30)), repr=False)
    """Numbers for new ids; the runner shares one iterator between the calls of a run."""

    @property
    def target(self) -> JSONObject:
        """The first (for a per-node agent, the only) target node."""
        return self.targets[0]

    def new_id(self) -> str:
        """A fresh id for a node or edge this call adds (unique within the run, readable in the file)."""
        return f"{self.run_id}-{next(self.ids)}"


@dataclass(slots=True)
class AgentOutput:
    """What an agent call returns: ops in the engine's op format, and a short JSON-serialisable result."""

    ops: list[JSONObject] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)

    def extend(self, other: AgentOutput) -> None:
        """Append another call's ops and fold its result in (lists are concatenated)."""
        self.ops.extend(other.ops)
        for key, value in other.result.items():
            mine = self.result.get(key)
            if isinstance(mine, list) and isinstance(value, list):
                mine.extend(value)
            elif key not in self.result:
                self.result[key] = value


class Agent:
    """Base of every agent (built-in or from a plugin); subclasses set the class attributes and `offline`."""

    name: ClassVar[str]
    description: ClassVar[str]
    targets: ClassVar[tuple[str, ...]] = ()
    """Learning states of the nodes it works on ("not_understood", ...); empty: any node."""
    per_node: ClassVar[bool] = True
    """Called once per target node (True), or once with all of them (False: e.g. compare)."""
    min_nodes: ClassVar[int] = 1
    max_nodes: ClassVar[int | None] = None
    needs_llm: ClassVar[bool] = False
    """Offline it adds nothing and says it needs an LLM."""
    recolours: ClassVar[bool] = False
    """It may change the colour of the nodes it was asked about (the scorer)."""
    schema: ClassVar[JSONObject | None] = None
    """JSON schema of an LLM answer; None: this agent never asks an LLM."""
    stream_items: ClassVar[str | None] = None
    """A top-level array of the answer whose items are placed as they arrive."""

    def select(self, canvas: CanvasView, requested: Sequence[JSONObject]) -> list[JSONObject]:
        """The nodes this agent works on, given the ones asked for (the runner allows only these or their
        direct neighbours). By default: the nodes asked for."""
        return list(requested)

    def offline(self, ctx: AgentContext) -> AgentOutput:
        """The answer without an LLM (blocking; runs in a worker thread)."""
        raise NotImplementedError

    async def run_offline(self, ctx: AgentContext) -> AgentOutput:
        """The offline answer as the runner awaits it: `offline` in a worker thread. Agents that query the
        semantic index or the memory (async APIs) override this instead."""
        return await asyncio.to_thread(self.offline, ctx)

    def prompt(self, ctx: AgentContext) -> list[dict[str, str]]:
        """Chat messages for the LLM: a byte-stable system prompt first (servers cache the prefix), then the
        canvas text as data."""
        raise NotImplementedError

    def from_answer(self, ctx: AgentContext, answer: JSONObject) -> AgentOutput:
        """Ops and result from an LLM answer that matches `schema`."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The agent as `GET /v1/agents` lists it."""
        return {"name": self.name, "description": self.description, "needs_llm": self.needs_llm,
                "targets": list(self.targets), "per_node": self.per_node, "min_nodes": self.min_nodes,
                "max_nodes": self.max_nodes, "recolours": self.recolours}


def add_node(ctx: AgentContext, text: str, *, source: str, role: str, color: str | None = None,
             **extra: Any) -> JSONObject:
    """An `add_node` op for a text node the runner sizes and places next to `source`."""
    node: JSONObject = {"id": ctx.new_id(), "type": "text", "text": text,
                        PROVENANCE_KEY: {"source": source, "role": role}}
    if color is not None:
        node["color"] = color
    node.update(extra)
    return {"op": "add_node", "node": node}


def add_edge(ctx: AgentContext, from_node: str, to_node: str, label: str | None = None,
             **extra: Any) -> JSONObject:
    """An `add_edge` op (the runner picks the sides from where the nodes end up)."""
    edge: JSONObject = {"id": ctx.new_id(), "fromNode": from_node, "toNode": to_node}
    if label is not None:
        edge["label"] = label
    edge.update(extra)
    return {"op": "add_edge", "edge": edge}


def recolour(node_id: str, color: str) -> JSONObject:
    """An `update_node` op that changes only a node's colour (allowed for agents that recolour)."""
    return {"op": "update_node", "id": node_id, "set": {"color": color}}
