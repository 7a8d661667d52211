"""A thread-safe LRU of vectors bounded by entry count (so by bytes too: entries * dim * 4)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


class VectorCache[K: Hashable]:
    """Most recently used vectors by key; stored read-only, so callers can share them without copying."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[K, NDArray[np.float32]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> NDArray[np.float32] | None:
        """The vector under `key` (marked most recently used), or None."""
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def get_many(self, keys: Iterable[K]) -> dict[K, NDArray[np.float32]]:
        """The vectors held for any of `keys`, each marked most recently used."""
        found: dict[K, NDArray[np.float32]] = {}
        with self._lock:
            for key in keys:
                vector = self._items.get(key)
                if vector is not None:
                    self._items.move_to_end(key)
                    found[key] = vector
        return found

    def put(self, key: K, vector: NDArray[np.float32]) -> NDArray[np.float32]:
        """Keep a read-only copy of `vector` under `key` (returned), dropping the least recently used."""
        import numpy as np

        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.flags.writeable = False
        if self.max_entries <= 0:
            return stored
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = stored
            self._bytes += stored.nbytes
            while len(self._items) > self.max_entries:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
        return stored

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes of vector data held."""
        with self._lock:
            return self._bytes
