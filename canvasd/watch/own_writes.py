"""What canvasd itself is writing, so the watcher can tell its own changes (origin `canvasd`) from others'."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

OWN_WRITE_TTL_S = 60.0
_MAX_OWN_PER_PATH = 8
_MAX_OWN_PATHS = 10_000


def real_path(path: str | os.PathLike[str]) -> str:
    """`path` with symlinks resolved: how canvases are keyed."""
    return os.path.realpath(os.fspath(path))


@dataclass(slots=True)
class _Announcement:
    version: str | None
    at: float
    matched: bool = False


class OwnWrites:
    """Thread-safe record of what canvasd itself is writing; pass `record` as the engine's `on_write`."""

    def __init__(self, ttl: float = OWN_WRITE_TTL_S) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._by_path: OrderedDict[str, list[_Announcement]] = OrderedDict()  # oldest announcement first

    def record(self, path: Path, version: str | None) -> None:
        """canvasd is about to put `version` at `path` (None: about to delete it)."""
        key, now = real_path(path), time.monotonic()
        with self._lock:
            self._expire(now)
            # An announcement the watcher has matched is superseded by the next one for the same path.
            kept = [a for a in self._by_path.pop(key, []) if not a.matched][-(_MAX_OWN_PER_PATH - 1):]
            self._by_path[key] = [*kept, _Announcement(version, now)]
            while len(self._by_path) > _MAX_OWN_PATHS:
                self._by_path.popitem(last=False)

    def is_own(self, path: Path, version: str | None) -> bool:
        """Whether canvasd recently announced exactly this version (or, for None, a delete) of `path`."""
        key, now = real_path(path), time.monotonic()
        with self._lock:
            self._expire(now)
            for announcement in self._by_path.get(key, ()):
                if announcement.version == version and now - announcement.at < self._ttl:
                    announcement.matched = True
                    return True
        return False

    def _expire(self, now: float) -> None:
        while self._by_path:
            key, announcements = next(iter(self._by_path.items()))
            if now - announcements[-1].at < self._ttl:
                return
            del self._by_path[key]


