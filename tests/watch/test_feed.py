"""The change feed: cursors, bounded history, subscriptions with resets, listeners, the persisted cursor."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from canvasd.metrics import Metrics
from canvasd.watch.cursor import CursorStore
from canvasd.watch.feed import ChangeEvent, ChangeFeed, Subscription


def _feed(history: int = 8, start_cursor: int = 0, **kwargs: int) -> ChangeFeed:
    return ChangeFeed(history, Metrics(), start_cursor, **kwargs)


async def _take(subscription: Subscription, count: int) -> list[ChangeEvent]:
    return [await asyncio.wait_for(anext(subscription), 5) for _ in range(count)]


def test_event_serialises_as_one_sse_message() -> None:
    event = ChangeEvent(7, "changed", "notes", "Math/极限.canvas", "ab" * 16, "external", 1700000000.5)
    message = event.sse()
    assert message.endswith(b"\n\n")
    lines = message.decode().splitlines()
    assert lines[0] == "id: 7"
    assert lines[1] == "event: changed"
    assert lines[2] == "data: " + json.dumps(event.as_dict(), separators=(",", ":"), ensure_ascii=False)
    assert json.loads(lines[2][len("data: "):]) == event.as_dict() == {
        "cursor": 7, "kind": "changed", "vault": "notes", "path": "Math/极限.canvas", "version": "ab" * 16,
        "origin": "external", "time": 1700000000.5}


def test_cursors_increase_and_since_returns_what_was_missed() -> None:
    feed = _feed()
    start = feed.cursor
    events = [feed.publish("created", "v", f"{i}.canvas", "x", "external") for i in range(3)]
    cursors = [e.cursor for e in events]
    assert cursors == sorted(cursors) and len(set(cursors)) == 3 and cursors[0] > start
    assert feed.cursor == cursors[-1]
    assert feed.since(start) == events
    assert feed.since(cursors[0]) == events[1:]
    assert feed.since(feed.cursor) == []


def test_since_is_none_when_history_dropped_events_or_cursor_is_unknown() -> None:
    feed = _feed(history=3)
    start = feed.cursor
    events = [feed.publish("changed", "v", "a.canvas", str(i), "external") for i in range(5)]
    assert feed.since(start) is None  # the first two events fell out of the history
    assert feed.since(events[0].cursor) is None
    assert feed.since(events[1].cursor) == events[2:]  # exactly what the history still holds
    assert feed.since(feed.cursor + 1) is None  # from the future
    assert feed.since(start - 1) is None  # from before this run


def test_subscription_replays_missed_events_then_follows_live_ones() -> None:
    async def main() -> None:
        feed = _feed()
        first = feed.publish("created", "v", "a.canvas", "1", "external")
        second = feed.publish("changed", "v", "a.canvas", "2", "canvasd")
        subscription = feed.subscribe(since=first.cursor)
        live = feed.publish("deleted", "v", "a.canvas", None, "external")
        assert await _take(subscription, 2) == [second, live]
        subscription.close()

    asyncio.run(main())


def test_subscription_without_since_gets_only_live_events() -> None:
    async def main() -> None:
        feed = _feed()
        feed.publish("created", "v", "old.canvas", "1", "external")
        subscription = feed.subscribe()
        live = feed.publish("created", "v", "new.canvas", "1", "external")
        assert await _take(subscription, 1) == [live]
        subscription.close()

    asyncio.run(main())


def test_subscription_from_a_dropped_cursor_starts_with_reset() -> None:
    async def main() -> None:
        feed = _feed(history=2)
        start = feed.cursor
        for i in range(4):
            feed.publish("changed", "v", "a.canvas", str(i), "external")
        subscription = feed.subscribe(since=start)
        live = feed.publish("changed", "v", "a.canvas", "live", "external")
        reset, after = await _take(subscription, 2)
        assert reset.kind == "reset" and reset.cursor == live.cursor - 1  # re-list, then continue from here
        assert (reset.vault, reset.path, reset.version, reset.origin) == (None, None, None, None)
        assert after == live
        subscription.close()

    asyncio.run(main())


def test_slow_subscriber_is_reset_instead_of_buffering_without_bound() -> None:
    async def main() -> None:
        feed = _feed(history=100, max_pending=5)
        slow = feed.subscribe()
        for i in range(50):
            feed.publish("changed", "v", "a.canvas", str(i), "external")
            assert slow.pending <= 5
        events = await _take(slow, slow.pending)
        resets = [e for e in events if e.kind == "reset"]
        assert resets, "a subscriber 50 events behind with room for 5 must be reset"
        # After its last reset the subscriber sees every later event, in order, ending with the newest.
        tail = events[events.index(resets[-1]) + 1:]
        assert [e.cursor for e in tail] == list(range(resets[-1].cursor + 1, feed.cursor + 1))
        slow.close()

    asyncio.run(main())


def test_close_ends_every_subscription_and_counts_clients() -> None:
    async def main() -> None:
        metrics = Metrics()
        feed = ChangeFeed(8, metrics)
        first, second = feed.subscribe(), feed.subscribe()
        assert metrics.value("canvasd_event_stream_clients") == 2
        first.close()
        first.close()  # idempotent
        assert metrics.value("canvasd_event_stream_clients") == 1

        async def drain(subscription: Subscription) -> list[ChangeEvent]:
            return [event async for event in subscription]

        waiting = asyncio.ensure_future(drain(second))
        await asyncio.sleep(0)  # the iterator is now blocked waiting for an event
        feed.close()
        assert await asyncio.wait_for(waiting, 5) == []
        assert metrics.value("canvasd_event_stream_clients") == 0
        late = feed.subscribe()
        assert [event async for event in late] == []

    asyncio.run(main())


def test_listeners_get_every_event_and_a_failing_listener_breaks_nothing() -> None:
    metrics = Metrics()
    feed = ChangeFeed(8, metrics)
    seen: list[ChangeEvent] = []

    def broken(event: ChangeEvent) -> None:
        raise RuntimeError("listener bug")

    feed.add_listener(broken)
    remove = feed.add_listener(seen.append)
    first = feed.publish("created", "v", "a.canvas", "1", "external")
    second = feed.publish("vault_missing", "v", None)
    assert seen == [first, second]
    assert metrics.value("canvasd_change_events_total", kind="created", origin="external") == 1
    assert metrics.value("canvasd_change_events_total", kind="vault_missing", origin="none") == 1
    remove()
    feed.publish("deleted", "v", "a.canvas", None, "external")
    assert seen == [first, second]


def test_cursor_store_round_trips_and_tolerates_a_missing_or_broken_file(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "data" / "events.cursor")
    assert store.load() == 0
    store.save(41)
    assert store.load() == 41
    store.save(1234)
    assert store.load() == 1234
    assert [p.name for p in store.path.parent.iterdir()] == ["events.cursor"]  # no temp file left
    store.path.write_text("not a number")
    assert store.load() == 0


def test_a_feed_restarted_from_the_saved_cursor_resets_old_clients(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "events.cursor")
    before = _feed()
    events = [before.publish("changed", "v", "a.canvas", str(i), "external") for i in range(3)]
    store.save(before.cursor)

    after = _feed(start_cursor=store.load())
    assert after.cursor > events[-1].cursor
    new = after.publish("changed", "v", "a.canvas", "new", "external")
    assert new.cursor > events[-1].cursor
    for old in (0, events[0].cursor, events[-1].cursor):  # even the last cursor of the old run
        assert after.since(old) is None
    assert after.since(new.cursor) == []


@pytest.mark.parametrize("since", [None, 0])
def test_a_client_that_saw_the_boundary_cursor_gets_no_reset_on_reconnect(since: int | None) -> None:
    async def main() -> None:
        feed = _feed(start_cursor=10)
        subscription = feed.subscribe(since)
        if since is not None:  # a client from before the start is reset to this run's boundary
            (reset,) = await _take(subscription, 1)
            assert reset.kind == "reset" and reset.cursor == feed.cursor
        subscription.close()
        assert feed.since(feed.cursor) == []  # reconnecting with that cursor: nothing missed, no reset loop

    asyncio.run(main())
