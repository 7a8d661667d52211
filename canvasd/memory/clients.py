"""The clients Graphiti's search needs: canvasd's shared embedder behind Graphiti's `EmbedderClient`, and
stand-ins for the LLM and the cross-encoder, which canvasd never uses (no LLM, RRF reranking only)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from canvasd.errors import SubsystemUnavailableError
from canvasd.memory._graphiti import (
    CrossEncoderClient,
    EmbedderClient,
    GraphDriver,
    GraphitiClients,
    LLMClient,
    NoOpTracer,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class VectorService(Protocol):
    """What the memory graph uses of `canvasd.embedding.EmbeddingService`."""

    @property
    def available(self) -> bool: ...

    @property
    def model_id(self) -> str: ...

    def vectors(self, texts: list[str], hashes: list[str] | None = None) -> NDArray[np.float32]: ...

    def query_vector(self, text: str) -> NDArray[np.float32]: ...


class ServiceEmbedder(EmbedderClient):
    """Graphiti's embedder interface over the daemon's one embedding service (passage vectors, cached).

    canvasd hands Graphiti precomputed vectors (entities, facts and the query vector), so Graphiti calls this
    only for anything left without one. The service blocks, so each call runs in the loop's worker thread.
    """

    def __init__(self, service: VectorService) -> None:
        self.service = service

    async def create(self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]]) -> list[float]:
        """The vector of one text (Graphiti passes `[text]`)."""
        if isinstance(input_data, str):
            text = input_data
        else:
            items = list(input_data)
            if not items or not isinstance(items[0], str):
                raise TypeError("canvasd's embedder takes text, not token ids")
            text = items[0]
        rows = await asyncio.to_thread(self.service.vectors, [text])
        return [float(x) for x in rows[0]]

    async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
        """Vectors of several texts, in order."""
        rows = await asyncio.to_thread(self.service.vectors, list(input_data_list))
        return [[float(x) for x in row] for row in rows]


class NoEmbedder(EmbedderClient):
    """Without an embedding model (provider none): empty vectors, and search is full-text only."""

    async def create(self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]]) -> list[float]:
        """An empty vector."""
        return []

    async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
        """Empty vectors, one per text."""
        return [[] for _ in input_data_list]


class NoLLM(LLMClient):
    """canvasd builds the graph without an LLM; any Graphiti path that would call one fails loudly."""

    def __init__(self) -> None:
        super().__init__(None)

    async def _generate_response(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise SubsystemUnavailableError(
            "memory", "ready",
            "the memory graph runs without an LLM; this Graphiti operation needs one")


class NoCrossEncoder(CrossEncoderClient):
    """canvasd reranks with reciprocal rank fusion; a cross-encoder is never configured."""

    async def rank(self, query: str, passages: list[str]) -> list[tuple[str, float]]:
        """Refuses: no cross-encoder."""
        raise SubsystemUnavailableError("memory", "ready", "the memory graph has no cross-encoder; it reranks with RRF")


def build_clients(driver: GraphDriver, embedder: EmbedderClient) -> GraphitiClients:
    """The client bundle Graphiti's `search()` takes."""
    return GraphitiClients(driver=driver, llm_client=NoLLM(), embedder=embedder, cross_encoder=NoCrossEncoder(),
                           tracer=NoOpTracer())
