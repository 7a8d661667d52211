"""The content hash stored beside every vector: equal texts share one hash, so they share one vector."""

from __future__ import annotations

import xxhash


def text_hash(text: str) -> str:
    """xxh3_128 hex digest of the UTF-8 bytes of `text` (32 hex characters)."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8"))
