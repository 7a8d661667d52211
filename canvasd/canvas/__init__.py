"""The canvas engine: lossless JSON Canvas model, cached reads, coalesced atomic writes.

Knows nothing of HTTP, the index, memory or agents; everything that changes a canvas goes through
`CanvasEngine` and its request types.
"""

from canvasd.canvas.commit import CommitResult, Delete, Patch, Replace, WriteRequest
from canvasd.canvas.engine import CanvasEngine
from canvasd.canvas.store import CanvasSnapshot

__all__ = ["CanvasEngine", "CanvasSnapshot", "CommitResult", "Delete", "Patch", "Replace", "WriteRequest"]
