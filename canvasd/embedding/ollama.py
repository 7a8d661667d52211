"""Embeddings from a local ollama server: POST {url}/api/embed."""

from __future__ import annotations

from typing import Any

from canvasd.embedding.remote import RemoteEmbedder


class OllamaEmbedder(RemoteEmbedder):
    """ollama's `/api/embed`: `{"model", "input": [..]}` -> `{"embeddings": [[..], ..]}`."""

    provider = "ollama"
    path = "/api/embed"
    hint = "is ollama running (`ollama serve`)? set embedding.url (default port 11434)"

    def parse_answer(self, answer: Any, count: int) -> list[Any]:
        """The `embeddings` list."""
        if not isinstance(answer, dict) or not isinstance(answer.get("embeddings"), list):
            raise self._malformed('an "embeddings" list')
        return answer["embeddings"]
