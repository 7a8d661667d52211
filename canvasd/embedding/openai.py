"""Embeddings from an OpenAI-compatible server: POST {url}/v1/embeddings."""

from __future__ import annotations

from typing import Any

from canvasd.embedding.remote import RemoteEmbedder


class OpenAIEmbedder(RemoteEmbedder):
    """`/v1/embeddings`: `{"model", "input": [..]}` -> `{"data": [{"index", "embedding"}, ..]}`."""

    provider = "openai"
    path = "/v1/embeddings"
    hint = "is the server running? set embedding.url (its base URL, without /v1)"

    def __init__(self, url: str, model: str, *, timeout_s: float = 60.0, api_key: str | None = None) -> None:
        """As RemoteEmbedder; `api_key`, when given, is sent as `Authorization: Bearer <key>`."""
        # the OpenAI SDK's base URLs end in /v1; accept them as they are usually copied
        super().__init__(url.rstrip("/").removesuffix("/v1"), model, timeout_s=timeout_s)
        self._api_key = api_key or None

    def headers(self) -> dict[str, str]:
        """The bearer token, if there is a key."""
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def parse_answer(self, answer: Any, count: int) -> list[Any]:
        """The `data[].embedding` lists sorted by `index` (servers may answer out of order)."""
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list) or not all(
                isinstance(item, dict) and isinstance(item.get("index"), int) and "embedding" in item
                for item in data):
            raise self._malformed('a "data" list of {"index", "embedding"} objects')
        ordered = sorted(data, key=lambda item: item["index"])
        if [item["index"] for item in ordered] != list(range(len(ordered))):
            raise self._malformed(f"indexes 0..{count - 1}")
        return [item["embedding"] for item in ordered]
