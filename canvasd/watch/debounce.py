"""A per-key debouncer on the asyncio loop (the watcher's bursts of events become one)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable


class Debouncer[K: Hashable]:
    """Calls `action(key)` once a key has been quiet for `delay` s, and at most `max_delay` s after its first
    touch (so a canvas rewritten non-stop is still reported). Loop thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, max_delay: float,
                 action: Callable[[K], None]) -> None:
        self._loop = loop
        self._delay = delay
        self._max_delay = max_delay
        self._action = action
        self._pending: dict[K, tuple[float, asyncio.TimerHandle]] = {}

    def touch(self, key: K) -> None:
        """Note activity on `key`: (re)start its quiet period."""
        now = self._loop.time()
        first = now
        if key in self._pending:
            first, handle = self._pending[key]
            handle.cancel()
        when = min(now + self._delay, first + self._max_delay)
        self._pending[key] = (first, self._loop.call_at(when, self._fire, key))

    def cancel(self) -> None:
        """Forget every pending key without calling the action."""
        for _, handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)

    def _fire(self, key: K) -> None:
        del self._pending[key]
        self._action(key)
