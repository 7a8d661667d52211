"""What memory queries return: facts, entities, a node's learning timeline, graph statistics.

Plain frozen dataclasses (the cache hands the same objects to every caller, so they must not change), each
with `to_json()` for the HTTP API. Times are timezone-aware UTC datetimes, ISO 8601 strings in JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from canvasd.memory.mapping import state_phrase


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields by name, in order (a shallow `asdict`: these hold immutable values, and `asdict`'s
    deep copies cost ~40 us a fact, most of a cached search answered over HTTP)."""
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def _day(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def describe(subject: str, state: str, valid_at: datetime | None, invalid_at: datetime | None) -> str:
    """A state fact as a sentence: "Limits not understood from t1 to t2", "Limits mastered since t3"."""
    phrase = f"{subject} {state_phrase(state)}"
    if valid_at is None:
        return phrase
    if invalid_at is None:
        return f"{phrase} since {_day(valid_at)}"
    return f"{phrase} from {_day(valid_at)} to {_day(invalid_at)}"


@dataclass(frozen=True, slots=True)
class MemoryFact:
    """A fact of the graph: a relation between two canvas nodes, or one node's learning state."""

    uuid: str
    kind: str
    name: str
    fact: str
    vault: str
    path: str
    node_id: str | None
    from_node_id: str | None
    to_node_id: str | None
    edge_id: str | None
    state: str | None
    valid_at: datetime | None
    invalid_at: datetime | None
    expired_at: datetime | None
    created_at: datetime | None
    score: float = 0.0

    @property
    def current(self) -> bool:
        """Whether the fact is still true (not closed)."""
        return self.invalid_at is None

    def to_json(self) -> dict[str, Any]:
        """JSON form: dates as ISO strings, plus `current`."""
        data = _fields(self)
        for name in ("valid_at", "invalid_at", "expired_at", "created_at"):
            data[name] = _iso(data[name])
        data["current"] = self.current
        return data


@dataclass(frozen=True, slots=True)
class MemoryEntity:
    """An entity of the graph: one canvas node (removed ones carry `removed_at`)."""

    uuid: str
    name: str
    summary: str
    vault: str
    path: str
    node_id: str
    node_type: str
    state: str
    labels: tuple[str, ...]
    created_at: datetime | None
    removed_at: datetime | None
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON form: dates as ISO strings."""
        data = _fields(self)
        data["labels"] = list(self.labels)
        data["created_at"] = _iso(self.created_at)
        data["removed_at"] = _iso(self.removed_at)
        return data


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The answer to one memory search: facts and entities, best first."""

    query: str
    facts: tuple[MemoryFact, ...] = ()
    entities: tuple[MemoryEntity, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"query": self.query, "facts": [f.to_json() for f in self.facts],
                "entities": [e.to_json() for e in self.entities]}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One period of a node's learning state."""

    state: str
    fact: str
    text: str
    valid_at: datetime | None
    invalid_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"state": self.state, "fact": self.fact, "text": self.text, "valid_at": _iso(self.valid_at),
                "invalid_at": _iso(self.invalid_at), "current": self.invalid_at is None}


@dataclass(frozen=True, slots=True)
class Timeline:
    """A node's learning-state history, oldest first."""

    vault: str
    path: str
    node_id: str
    name: str
    state: str
    removed_at: datetime | None
    entries: tuple[TimelineEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"vault": self.vault, "path": self.path, "node_id": self.node_id, "name": self.name,
                "state": self.state, "removed_at": _iso(self.removed_at),
                "entries": [e.to_json() for e in self.entries]}


@dataclass(frozen=True, slots=True)
class MemoryStats:
    """How big the graph is and how its learners' nodes are spread over learning states."""

    canvases: int
    entities: int
    live_entities: int
    facts: int
    open_facts: int
    facts_by_kind: dict[str, dict[str, int]] = field(hash=False)
    live_states: dict[str, int] = field(hash=False)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one canvas sync did: `outcome` is unchanged (nothing written), changed, or removed."""

    outcome: str
    entities_written: int = 0
    entities_retired: int = 0
    facts_opened: int = 0
    facts_closed: int = 0
    facts_rewritten: int = 0
    vectors_requested: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)
