"""Canvas document -> the memory graph's entities and open facts, without an LLM (pure functions).

A canvas node becomes an entity (stable uuid from vault, canvas and node id; name from its first line,
summary from its text; labels from its type, learning state and vault). A canvas edge becomes a relation
fact between two entities ("Limits leads to Derivatives"); a node's learning state (its colour) becomes a
state fact on the node ("Limits is mastered"). Times are not decided here: `sync_plan` opens and closes facts.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import orjson
import xxhash

from canvasd.canvas.learning import UNMARKED, LearningStates
from canvasd.canvas.model import node_text
from canvasd.types import JSONObject

MAPPING_VERSION = 1
"""Bumped whenever the mapping changes, so every canvas is synced again once."""

NAMESPACE = uuid.UUID("6f1c9a52-1d7e-4f55-9a0c-7b8e2c3d4a10")
CANVAS_NODE_LABEL = "CanvasNode"
LIVE_LABEL = "Live"
RELATION_KIND = "relation"
STATE_KIND = "state"
NAME_MAX = 120
SUMMARY_MAX = 4000
NODE_TYPE_LABELS = {"text": "TextNode", "file": "FileNode", "link": "LinkNode", "group": "GroupNode"}
STATE_PHRASES = {
    "not_understood": "not understood",
    "partly_understood": "partly understood",
    "mastered": "mastered",
    "own_explanation": "explained in own words",
}
_MARKDOWN_LEAD = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+)+")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_RELATION_UNSAFE = re.compile(r"\W+")


def _short_hash(text: str) -> str:
    return xxhash.xxh3_64_hexdigest(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class CanvasGroup:
    """One canvas of one vault: the unit the graph is synced, partitioned (Graphiti group_id) and cached by."""

    vault: str
    path: str

    @property
    def group_id(self) -> str:
        """Graphiti group id: ASCII letters, digits and `_` only, so it is safe in fulltext queries."""
        return "cv_" + _short_hash(f"{self.vault}\x00{self.path}")

    @property
    def vault_label(self) -> str:
        """Label on every entity of this vault (search filters by label, not by a list of group ids)."""
        return vault_label(self.vault)

    @property
    def live_label(self) -> str:
        """Label on the entities of this vault that are still on their canvas."""
        return live_label(self.vault)


def vault_label(vault: str) -> str:
    """`V_<hash>`: the label every entity of `vault` carries."""
    return "V_" + _short_hash(vault)


def live_label(vault: str) -> str:
    """`Live_<hash>`: the label the current (not removed) entities of `vault` carry."""
    return "Live_" + _short_hash(vault)


def state_label(state: str) -> str:
    """`State_<name>`: the label of a learning state (any configured name made a safe Cypher identifier)."""
    return "State_" + _LABEL_UNSAFE.sub("_", state)


def state_phrase(state: str) -> str:
    """How a learning state reads in a sentence: `not_understood` -> "not understood"."""
    return STATE_PHRASES.get(state, state.replace("_", " "))


def entity_uuid(vault: str, path: str, node_id: str) -> str:
    """The entity uuid of a canvas node: the same for the same vault, canvas and node id, on every run."""
    return str(uuid.uuid5(NAMESPACE, f"node\x00{vault}\x00{path}\x00{node_id}"))


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """What the graph should hold for one canvas node."""

    uuid: str
    node_id: str
    node_type: str
    name: str
    summary: str
    text: str
    state: str
    color: str | None
    labels: frozenset[str]

    def attributes(self, group: CanvasGroup) -> dict[str, str | None]:
        """Properties stored beside Graphiti's own (vault, canvas and node id let results name their source)."""
        return {"vault": group.vault, "canvas": group.path, "node_id": self.node_id, "node_type": self.node_type,
                "state": self.state, "color": self.color, "removed_at": None}


@dataclass(frozen=True, slots=True)
class FactSpec:
    """One fact that should be open now: a relation (canvas edge) or a learning state (node colour).

    `key` names what the fact is about (one canvas edge, or one node's state); `identity` is what makes it
    the same fact: when it changes the old fact is closed and a new one opened, while a change of wording
    alone (a node renamed) rewrites the open fact in place.
    """

    key: str
    kind: str
    identity: str
    name: str
    fact: str
    source_uuid: str
    target_uuid: str
    attributes: dict[str, str] = field(hash=False)


@dataclass(frozen=True, slots=True)
class CanvasGraph:
    """A canvas as the memory graph sees it: entities by uuid and open facts by key."""

    group: CanvasGroup
    entities: dict[str, EntitySpec]
    facts: dict[str, FactSpec]

    def fingerprint(self) -> str:
        """Hash of everything the graph keeps of this canvas (positions and sizes are not kept)."""
        payload = [
            MAPPING_VERSION, self.group.vault, self.group.path,
            sorted((e.uuid, e.node_type, e.name, e.summary, e.text, e.state, e.color or "", sorted(e.labels))
                   for e in self.entities.values()),
            sorted((f.key, f.identity, f.name, f.fact, f.source_uuid, f.target_uuid) for f in self.facts.values()),
        ]
        return xxhash.xxh3_128_hexdigest(orjson.dumps(payload))


def node_name(node: JSONObject, text: str) -> str:
    """A short name: a file's stem, else the first non-empty line without its Markdown marks."""
    file = node.get("file")
    if node.get("type") == "file" and isinstance(file, str) and file.strip():
        subpath = node.get("subpath")
        name = PurePosixPath(file.strip()).stem + (subpath if isinstance(subpath, str) else "")
    else:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        name = _MARKDOWN_LEAD.sub("", first).strip() or first
    if not name:
        name = f"{node.get('type') or 'untitled'} card {node.get('id')}"
    return name if len(name) <= NAME_MAX else name[: NAME_MAX - 1].rstrip() + "…"


def relation_name(label: str) -> str:
    """A relation type from an edge label (`leads to` -> `LEADS_TO`); unlabelled edges are `LINKED_TO`."""
    name = _RELATION_UNSAFE.sub("_", label.strip()).strip("_").upper()
    return name[:40] or "LINKED_TO"


def map_canvas(vault: str, path: str, document: JSONObject, states: LearningStates) -> CanvasGraph:
    """Every node with an id becomes an entity; every edge between two of them a relation fact; every
    node with a learning state a state fact."""
    group = CanvasGroup(vault, path)
    entities: dict[str, EntitySpec] = {}
    by_node_id: dict[str, EntitySpec] = {}
    facts: dict[str, FactSpec] = {}
    nodes = document.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            spec = _entity(group, node, states.state_of(node))
            previous = by_node_id.pop(spec.node_id, None)
            if previous is not None:
                entities.pop(previous.uuid, None)
            entities[spec.uuid] = by_node_id[spec.node_id] = spec
    for spec in by_node_id.values():
        if spec.state != UNMARKED:
            state = _state_fact(group, spec)
            facts[state.key] = state
    edges = document.get("edges")
    for edge in edges if isinstance(edges, list) else []:
        relation = _relation_fact(group, edge, by_node_id) if isinstance(edge, dict) else None
        if relation is not None:
            facts[relation.key] = relation
    return CanvasGraph(group, entities, facts)


def _entity(group: CanvasGroup, node: JSONObject, state: str) -> EntitySpec:
    node_id = node["id"]
    raw_kind = node.get("type")
    kind = raw_kind if isinstance(raw_kind, str) else "unknown"
    text = node_text(node)
    name = node_name(node, text)
    color = node.get("color") if isinstance(node.get("color"), str) else None
    labels = frozenset({"Entity", CANVAS_NODE_LABEL, NODE_TYPE_LABELS.get(kind, "OtherNode"), state_label(state),
                        group.vault_label, group.live_label, LIVE_LABEL})
    return EntitySpec(uuid=entity_uuid(group.vault, group.path, node_id), node_id=node_id, node_type=kind,
                      name=name, summary=text[:SUMMARY_MAX], text=text or name, state=state, color=color,
                      labels=labels)


def _state_fact(group: CanvasGroup, spec: EntitySpec) -> FactSpec:
    return FactSpec(
        key=f"state:{spec.node_id}", kind=STATE_KIND, identity=spec.state, name="STATE_" + spec.state.upper(),
        fact=f"{spec.name} is {state_phrase(spec.state)}", source_uuid=spec.uuid, target_uuid=spec.uuid,
        attributes={"kind": STATE_KIND, "vault": group.vault, "canvas": group.path, "node_id": spec.node_id,
                    "state": spec.state, "subject": spec.name},
    )


def _relation_fact(group: CanvasGroup, edge: JSONObject, by_node_id: dict[str, EntitySpec]) -> FactSpec | None:
    edge_id, source, target = edge.get("id"), edge.get("fromNode"), edge.get("toNode")
    if not isinstance(edge_id, str) or not isinstance(source, str) or not isinstance(target, str):
        return None
    if source not in by_node_id or target not in by_node_id:
        return None
    if edge.get("fromEnd") == "arrow" and edge.get("toEnd") == "none":
        source, target = target, source  # the arrow points at the `from` node
    raw_label = edge.get("label")
    label = raw_label.strip() if isinstance(raw_label, str) else ""
    a, b = by_node_id[source], by_node_id[target]
    fact = f"{a.name} {label} {b.name}" if label else f"{a.name} is linked to {b.name}"
    return FactSpec(
        key=f"edge:{edge_id}", kind=RELATION_KIND, identity=f"{source}\x1f{target}\x1f{label}",
        name=relation_name(label), fact=fact, source_uuid=a.uuid, target_uuid=b.uuid,
        attributes={"kind": RELATION_KIND, "vault": group.vault, "canvas": group.path, "edge_id": edge_id,
                    "from_node_id": source, "to_node_id": target, "label": label},
    )
