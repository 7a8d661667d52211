"""The learning memory: canvases as a Graphiti temporal knowledge graph on an embedded FalkorDB, no LLM.

Light to import: Graphiti, FalkorDB and the graph server load in `LearningMemory.start()`.
"""

from canvasd.memory.learning_memory import LearningMemory
from canvasd.memory.results import (
    MemoryEntity,
    MemoryFact,
    MemoryStats,
    SearchResult,
    SyncReport,
    Timeline,
    TimelineEntry,
)

__all__ = [
    "LearningMemory",
    "MemoryEntity",
    "MemoryFact",
    "MemoryStats",
    "SearchResult",
    "SyncReport",
    "Timeline",
    "TimelineEntry",
]
