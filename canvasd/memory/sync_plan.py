"""What one sync must write: the difference between a canvas's mapping and its part of the graph (pure).

Nothing is deleted. An entity whose node left the canvas is retired (`removed_at` set, its live labels
dropped); a fact that stopped being true is closed (`invalid_at` = when the canvas changed, `expired_at` =
when the graph learned it). A fact whose wording changed but whose identity did not is rewritten in place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from canvasd.memory.mapping import LIVE_LABEL, CanvasGraph, CanvasGroup, EntitySpec, FactSpec


@dataclass(frozen=True, slots=True)
class StoredEntity:
    """An entity as the graph holds it (what a sync compares against)."""

    uuid: str
    node_id: str
    node_type: str
    name: str
    summary: str
    state: str
    color: str | None
    labels: frozenset[str]
    removed: bool
    created_at: datetime | None

    def matches(self, spec: EntitySpec) -> bool:
        """Whether the stored entity already says everything `spec` says."""
        return (not self.removed and self.name == spec.name and self.summary == spec.summary
                and self.node_type == spec.node_type and self.state == spec.state and self.color == spec.color
                and self.labels == spec.labels)


@dataclass(frozen=True, slots=True)
class StoredFact:
    """An open fact as the graph holds it."""

    uuid: str
    key: str
    identity: str
    name: str
    fact: str
    source_uuid: str
    target_uuid: str
    valid_at: datetime | None
    created_at: datetime | None


@dataclass(slots=True)
class StoredGroup:
    """A canvas's part of the graph: every entity (retired ones too) and every open fact."""

    entities: dict[str, StoredEntity] = field(default_factory=dict)
    open_facts: list[StoredFact] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NewFact:
    """A fact to open now (uuid chosen here, so a retried write stays one fact)."""

    uuid: str
    spec: FactSpec


@dataclass(frozen=True, slots=True)
class Closing:
    """An open fact to close: stopped being true at `invalid_at` (never before it became true)."""

    uuid: str
    invalid_at: datetime


@dataclass(slots=True)
class SyncPlan:
    """Every write one sync makes, in the order the store applies them."""

    at: datetime
    now: datetime
    upsert: list[EntitySpec] = field(default_factory=list)
    created_at: dict[str, datetime] = field(default_factory=dict)
    drop_labels: dict[str, frozenset[str]] = field(default_factory=dict)
    retire: dict[str, frozenset[str]] = field(default_factory=dict)
    open: list[NewFact] = field(default_factory=list)
    rewrite: list[tuple[StoredFact, FactSpec]] = field(default_factory=list)
    close: list[Closing] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether the graph already matches the canvas."""
        return not (self.upsert or self.drop_labels or self.retire or self.open or self.rewrite or self.close)

    def embed_texts(self) -> list[str]:
        """Texts that need a vector: upserted entities' texts, then opened and rewritten facts."""
        return ([e.text for e in self.upsert] + [f.spec.fact for f in self.open]
                + [spec.fact for _, spec in self.rewrite])


def plan_sync(graph: CanvasGraph, stored: StoredGroup, *, at: datetime, now: datetime) -> SyncPlan:
    """The writes that make `stored` say what `graph` says, with changes dated `at` (the canvas mtime)."""
    plan = SyncPlan(at=at, now=now)
    for spec in graph.entities.values():
        old = stored.entities.get(spec.uuid)
        if old is not None and old.matches(spec):
            continue
        plan.upsert.append(spec)
        if old is not None:
            if old.created_at is not None:
                plan.created_at[spec.uuid] = old.created_at
            stale = old.labels - spec.labels
            if stale:
                plan.drop_labels[spec.uuid] = stale
    for old in stored.entities.values():
        if old.uuid not in graph.entities and not old.removed:
            plan.retire[old.uuid] = frozenset(label for label in old.labels
                                              if label == LIVE_LABEL or label.startswith("Live_"))
    _plan_facts(plan, graph, stored)
    return plan


def plan_removal(group: CanvasGroup, stored: StoredGroup, *, at: datetime, now: datetime) -> SyncPlan:
    """The writes that retire every entity and close every open fact of a canvas that is gone."""
    return plan_sync(CanvasGraph(group=group, entities={}, facts={}), stored, at=at, now=now)


def _plan_facts(plan: SyncPlan, graph: CanvasGraph, stored: StoredGroup) -> None:
    seen: set[str] = set()
    for old in sorted(stored.open_facts, key=lambda f: (f.valid_at is None, f.valid_at or plan.at)):
        spec = graph.facts.get(old.key)
        if spec is None or old.key in seen or spec.identity != old.identity:
            plan.close.append(Closing(old.uuid, max(plan.at, old.valid_at) if old.valid_at else plan.at))
            continue
        seen.add(old.key)
        if (spec.fact, spec.name) != (old.fact, old.name):  # endpoints are part of the identity
            plan.rewrite.append((old, spec))
    for key, spec in graph.facts.items():
        if key not in seen:
            plan.open.append(NewFact(str(uuid.uuid4()), spec))
