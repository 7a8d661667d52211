"""Shared type aliases of canvasd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

JSONValue = Any
"""Any value JSON can hold (dict, list, str, int, float, bool, None)."""

JSONObject = dict[str, Any]
"""A JSON object: a canvas document, a node, an edge or an op."""

Signature = tuple[int, int, int]
"""What identifies one state of a file on disk: (st_mtime_ns, st_size, st_ino)."""

WriteObserver = Callable[[Path, str | None], None]
"""Told (path, version) just before canvasd replaces a file; version None announces a delete."""
