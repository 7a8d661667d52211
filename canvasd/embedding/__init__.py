"""Texts to vectors, shared by the semantic index and the memory graph: one embedder, one cache.

Light to import: numpy and the model load only when the service is first used.
"""

from canvasd.embedding.embedder import Embedder, VectorSource
from canvasd.embedding.factory import build_embedder
from canvasd.embedding.hashing import text_hash
from canvasd.embedding.service import EmbeddingService

__all__ = ["Embedder", "EmbeddingService", "VectorSource", "build_embedder", "text_hash"]
