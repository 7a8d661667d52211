"""The change feed: numbered canvas change events, a bounded history for reconnecting clients, fan-out.

The watcher publishes into one `ChangeFeed`; SSE clients follow it through a `Subscription` each and
in-process components (index, memory) through listeners. Every event gets the next cursor. Cursors keep
increasing across restarts: the daemon keeps a cursor at least as large as any issued in a `CursorStore`
in the data dir and starts the next run's feed from it, so a client holding a cursor from an earlier run
is told to `reset` rather than silently missing what changed while canvasd was down.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from canvasd.metrics import Metrics

log = logging.getLogger(__name__)

EventKind = Literal["created", "changed", "deleted", "reset", "vault_missing", "vault_restored", "index_progress",
                    "agent_run", "review", "proposal"]
Origin = Literal["canvasd", "external"]
Listener = Callable[["ChangeEvent"], None]

@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change: a canvas created, changed or deleted, a vault gone or back, index progress, or a reset."""

    cursor: int
    kind: EventKind
    vault: str | None
    path: str | None  # vault-relative POSIX path
    version: str | None
    origin: Origin | None
    time: float  # unix seconds
    detail: dict[str, Any] | None = None  # index_progress: the index's progress (phase, done, total, eta_s)

    def as_dict(self) -> dict[str, Any]:
        """The event as a JSON-serialisable mapping (`detail` only on events that carry one)."""
        data: dict[str, Any] = {"cursor": self.cursor, "kind": self.kind, "vault": self.vault, "path": self.path,
                "version": self.version, "origin": self.origin, "time": self.time}
        if self.detail is not None:
            data["detail"] = self.detail
        return data

    def sse(self) -> bytes:
        """The event as one Server-Sent Events message (the cursor is the event id)."""
        data = json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False)
        return f"id: {self.cursor}\nevent: {self.kind}\ndata: {data}\n\n".encode()


class Subscription:
    """One client's view of the feed: an async iterator of events with a bounded backlog."""

    def __init__(self, feed: ChangeFeed, backlog: list[ChangeEvent], max_pending: int) -> None:
        self._feed = feed
        self._queue: deque[ChangeEvent] = deque(backlog)
        self._max_pending = max_pending
        self._wake = asyncio.Event()
        self._closed = False
        if backlog:
            self._wake.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Events waiting to be taken by the client."""
        return len(self._queue)

    def push(self, event: ChangeEvent) -> None:
        """Queue a live event; a client this far behind is reset instead of buffered further."""
        if self._closed:
            return
        if len(self._queue) >= self._max_pending:
            self._queue.clear()
            event = self._feed.reset_event()
        self._queue.append(event)
        self._wake.set()

    def close(self) -> None:
        """Stop following the feed: iteration ends and the client count drops. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        self._wake.set()
        self._feed._forget(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ChangeEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            await self._wake.wait()
            self._wake.clear()
        return self._queue.popleft()


class ChangeFeed:
    """Numbered change events with a bounded history, fanned out to subscriptions and listeners.

    Lives in the asyncio loop's thread: other threads publish through `loop.call_soon_threadsafe`.
    """

    def __init__(self, history: int, metrics: Metrics, start_cursor: int = 0, *,
                 max_pending: int | None = None) -> None:
        """Keep `history` events for `since`; issue cursors above `start_cursor` (from a `CursorStore`);
        reset a subscriber that is more than `max_pending` (default: `history`) events behind."""
        self._metrics = metrics
        # The run's first cursor is never given to an event: it marks the boundary, so a cursor from an
        # earlier run (<= start_cursor) is always answered with a reset, even the last one it issued.
        self._first = start_cursor + 1
        self._cursor = self._first
        self._history: deque[ChangeEvent] = deque(maxlen=history)
        self._max_pending = max_pending if max_pending is not None else history
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Listener] = []
        self._closed = False

    @property
    def cursor(self) -> int:
        """The last cursor issued (before any event: this run's boundary cursor)."""
        return self._cursor

    def publish(self, kind: EventKind, vault: str | None, path: str | None, version: str | None = None,
                origin: Origin | None = None, detail: dict[str, Any] | None = None) -> ChangeEvent:
        """Issue the next event: remember it, count it and hand it to every subscription and listener."""
        self._cursor += 1
        event = ChangeEvent(self._cursor, kind, vault, path, version, origin, time.time(), detail)
        self._history.append(event)
        self._metrics.change_events.labels(kind, origin or "none").inc()
        for subscription in list(self._subscriptions):
            subscription.push(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("change listener %r failed on event %d; the feed goes on", listener, event.cursor)
        return event

    def since(self, cursor: int) -> list[ChangeEvent] | None:
        """Events after `cursor`, or None when some are no longer known (the client must re-list)."""
        if cursor > self._cursor or cursor < self._first:
            return None  # from the future, or from an earlier run
        if cursor == self._cursor:
            return []
        oldest = self._history[0].cursor if self._history else self._cursor + 1
        if oldest > cursor + 1:
            return None  # events right after `cursor` were dropped from the history
        return list(itertools.islice(self._history, cursor + 1 - oldest, None))

    def reset_event(self) -> ChangeEvent:
        """A `reset` for one client, carrying the current cursor to continue from after re-listing."""
        return ChangeEvent(self._cursor, "reset", None, None, None, None, time.time())

    def subscribe(self, since: int | None = None) -> Subscription:
        """Follow the feed: first what came after `since` (or one `reset`), then live events."""
        backlog: list[ChangeEvent] = []
        if since is not None:
            missed = self.since(since)
            backlog = missed if missed is not None and len(missed) <= self._max_pending else [self.reset_event()]
        subscription = Subscription(self, backlog, self._max_pending)
        if self._closed:
            subscription.close()
            return subscription
        self._subscriptions.add(subscription)
        self._metrics.event_clients.inc()
        return subscription

    def add_listener(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for every event published (in the loop thread); returns the unsubscribe."""
        self._listeners.append(callback)

        def remove() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return remove

    def close(self) -> None:
        """End every subscription (daemon shutdown), so event streams finish. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()

    def _forget(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self._metrics.event_clients.dec()
