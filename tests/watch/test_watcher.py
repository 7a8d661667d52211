"""The watcher on real files: real watchdog, real engine writes, events read from a real ChangeFeed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from canvasd.canvas import CanvasEngine, Delete, Patch, Replace
from canvasd.canvas.store import content_version
from canvasd.canvas.vaults import VaultRegistry
from canvasd.config import WatcherSettings, load_settings
from canvasd.watch.debounce import Debouncer
from canvasd.watch.feed import ChangeEvent, ChangeFeed
from canvasd.watch.own_writes import OwnWrites
from canvasd.watch.watcher import CanvasWatcher
from tests.support.canvas_factory import node

TIMEOUT = 10.0
DEBOUNCE_MS = 80.0
BURST_DEBOUNCE_MS = 400.0


def _doc(text: str) -> dict[str, Any]:
    return {"nodes": [node(1, text=text)], "edges": []}


def _canvas_bytes(text: str) -> bytes:
    return json.dumps(_doc(text), indent="\t").encode()


class Rig:
    """A watcher on one vault `notes`, and every event it published, taken one by one by the test."""

    def __init__(self, root: Path, engine: CanvasEngine, own_writes: OwnWrites, settings: WatcherSettings) -> None:
        self.feed = ChangeFeed(1024, engine.metrics)
        self.events: list[ChangeEvent] = []
        self._taken: set[int] = set()
        self._arrived = asyncio.Event()
        self.feed.add_listener(self._on_event)
        self.watcher = CanvasWatcher(VaultRegistry({"notes": root}), engine, self.feed, own_writes, settings,
                                     engine.metrics, asyncio.get_running_loop(), presence_interval=0.05)
        self._markers = 0
        self.root = root

    def _on_event(self, event: ChangeEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def expect(self, kind: str, path: str | None = None, **fields: Any) -> ChangeEvent:
        """The first event not taken yet of this kind (and path and fields), waiting for it if needed."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for event in self.events:
                if (event.cursor not in self._taken and event.kind == kind and event.path == path
                        and all(getattr(event, k) == v for k, v in fields.items())):
                    self._taken.add(event.cursor)
                    return event
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {kind} event for {path} {fields}; events: {self.events}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def settle(self) -> list[ChangeEvent]:
        """Events not taken yet, once everything changed before now has been reported.

        A marker canvas is written last and waited for: raw events arrive in order and are resolved one
        at a time, so anything the earlier changes were going to publish is published before it.
        """
        self._markers += 1
        name = f"zz-marker-{self._markers}.canvas"
        (self.root / name).write_bytes(_canvas_bytes(name))
        await self.expect("created", name, origin="external")
        return [e for e in self.events if e.cursor not in self._taken]


@pytest.fixture
def own_writes() -> OwnWrites:
    return OwnWrites()


@pytest.fixture
def watched_engine(own_writes: OwnWrites) -> Iterator[CanvasEngine]:
    """An engine that announces its writes to `own_writes`, as the daemon wires it."""
    settings = load_settings(batch_writer={"fsync": False, "window_ms": 5, "max_delay_ms": 20})
    engine = CanvasEngine(settings, on_write=own_writes.record)
    yield engine
    engine.close(timeout=10)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "vault"
    folder.mkdir()
    return folder


@contextlib.asynccontextmanager
async def watching(root: Path, engine: CanvasEngine, own_writes: OwnWrites, **settings: Any) -> AsyncIterator[Rig]:
    """Start and stop the watcher from a worker thread, as the daemon does."""
    rig = Rig(root, engine, own_writes, WatcherSettings(**{"debounce_ms": DEBOUNCE_MS, **settings}))
    await asyncio.to_thread(rig.watcher.watch)
    try:
        await asyncio.wait_for(rig.watcher.wait_ready(), TIMEOUT)
        yield rig
    finally:
        await asyncio.to_thread(rig.watcher.unwatch)


def _run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 60))


def test_external_writes_are_reported_created_then_changed(root: Path, watched_engine: CanvasEngine,
                                                           own_writes: OwnWrites) -> None:
    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            canvas = root / "Math" / "limits.canvas"
            canvas.parent.mkdir()
            first, second = _canvas_bytes("one"), _canvas_bytes("two")
            canvas.write_bytes(first)
            created = await rig.expect("created", "Math/limits.canvas")
            assert (created.vault, created.origin, created.version) == ("notes", "external", content_version(first))
            canvas.write_bytes(second)
            changed = await rig.expect("changed", "Math/limits.canvas")
            assert (changed.origin, changed.version) == ("external", content_version(second))
            assert changed.cursor > created.cursor
            assert await rig.settle() == []
            assert watched_engine.metrics.value("canvasd_watcher_raw_events_total") >= 2
            assert watched_engine.metrics.value(
                "canvasd_change_events_total", kind="changed", origin="external") == 1

    _run(scenario())


def test_engine_writes_are_reported_with_origin_canvasd(root: Path, watched_engine: CanvasEngine,
                                                        own_writes: OwnWrites) -> None:
    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            canvas = root / "board.canvas"
            made = await asyncio.to_thread(watched_engine.apply, canvas, Replace(_doc("first")))
            await rig.expect("created", "board.canvas", origin="canvasd", version=made.version)
            patch = Patch([{"op": "add_node", "node": node(2)}])
            patched = await asyncio.to_thread(watched_engine.apply, canvas, patch)
            assert patched.version != made.version
            await rig.expect("changed", "board.canvas", origin="canvasd", version=patched.version)
            await asyncio.to_thread(watched_engine.apply, canvas, Delete())
            await rig.expect("deleted", "board.canvas", origin="canvasd", version=None)
            assert await rig.settle() == []  # one event per write: the temp files made none

    _run(scenario())


def test_external_delete_and_rename(root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    (root / "a.canvas").write_bytes(_canvas_bytes("a"))
    (root / "gone.canvas").write_bytes(_canvas_bytes("gone"))

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            (root / "gone.canvas").unlink()
            await rig.expect("deleted", "gone.canvas", origin="external", version=None)
            os.rename(root / "a.canvas", root / "b.canvas")
            await rig.expect("deleted", "a.canvas", origin="external")
            await rig.expect("created", "b.canvas", origin="external", version=content_version(_canvas_bytes("a")))
            assert await rig.settle() == []

    _run(scenario())


def test_a_burst_of_writes_becomes_one_or_two_events_with_the_last_version(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    canvas = root / "busy.canvas"
    canvas.write_bytes(_canvas_bytes("start"))

    async def scenario() -> None:
        # A quiet window far longer than the burst takes: only a stall of the whole machine could split it.
        async with watching(root, watched_engine, own_writes, debounce_ms=BURST_DEBOUNCE_MS) as rig:
            def burst() -> None:  # in a thread, so the loop handles raw events while they come
                for i in range(20):
                    canvas.write_bytes(_canvas_bytes(f"edit {i}"))

            await asyncio.to_thread(burst)
            final = content_version(_canvas_bytes("edit 19"))
            await rig.expect("changed", "busy.canvas", version=final)
            await rig.settle()
            busy = [e for e in rig.events if e.path == "busy.canvas"]
            assert 1 <= len(busy) <= 2, busy  # 20 writes, coalesced
            assert busy[-1].kind == "changed" and busy[-1].version == final  # the last one tells the end state
            # How many raw events the 20 writes make is the kernel's business (inotify merges identical
            # unread events): at least one arrived, and the feed did not pass them on one by one.
            assert watched_engine.metrics.value("canvasd_watcher_raw_events_total") >= 1

    _run(scenario())


def test_hidden_folders_temp_files_and_other_files_are_ignored(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            for relative in (".obsidian/x.canvas", ".trash/old.canvas", "notes/.hidden.canvas", "notes/readme.md",
                             "notes/canvas", ".board.canvas.4242.deadbeef.canvasd.tmp"):
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_canvas_bytes(relative))
            assert await rig.settle() == []

    _run(scenario())


def test_existing_canvases_are_known_from_the_start(root: Path, watched_engine: CanvasEngine,
                                                    own_writes: OwnWrites) -> None:
    canvas = root / "old.canvas"
    data = _canvas_bytes("old")
    canvas.write_bytes(data)

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            canvas.write_bytes(data)  # rewritten with the same bytes: nothing changed
            assert await rig.settle() == []
            canvas.write_bytes(_canvas_bytes("new"))
            await rig.expect("changed", "old.canvas", origin="external")
            assert rig.watcher.status()["vaults"]["notes"] == {"state": "watching", "root": str(root),
                                                               "canvases": 2}

    _run(scenario())


def test_an_external_same_size_edit_invalidates_the_read_cache(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    canvas = root / "same.canvas"
    before, after = _canvas_bytes("AAAA"), _canvas_bytes("BBBB")
    assert len(before) == len(after)
    canvas.write_bytes(before)
    old = time.time() - 100
    os.utime(canvas, (old, old))  # an old file: the cache trusts its stat signature
    mtime_ns = canvas.stat().st_mtime_ns

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            assert watched_engine.read(canvas).raw == before  # cached by the start-up scan or here
            with open(canvas, "r+b") as f:  # same inode, same size, and the old mtime restored below:
                f.write(after)  # the stat signature cannot tell, only the watcher can
            os.utime(canvas, ns=(mtime_ns, mtime_ns))
            await rig.expect("changed", "same.canvas", origin="external", version=content_version(after))
            assert watched_engine.read(canvas).raw == after

    _run(scenario())


def test_a_removed_vault_folder_is_reported_and_recovered(root: Path, watched_engine: CanvasEngine,
                                                          own_writes: OwnWrites, tmp_path: Path) -> None:
    (root / "a.canvas").write_bytes(_canvas_bytes("a"))

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            shutil.rmtree(root)
            await rig.expect("vault_missing", None, vault="notes")
            await rig.expect("deleted", "a.canvas", origin="external")
            assert rig.watcher.status()["vaults"]["notes"]["state"] == "missing"

            root.mkdir()
            staged = tmp_path / "b.staged"
            staged.write_bytes(_canvas_bytes("b"))
            os.replace(staged, root / "b.canvas")  # complete at once, whether the scan or an event sees it
            await rig.expect("vault_restored", None, vault="notes")
            await rig.expect("created", "b.canvas", origin="external", version=content_version(_canvas_bytes("b")))

            (root / "b.canvas").write_bytes(_canvas_bytes("b2"))
            await rig.expect("changed", "b.canvas", version=content_version(_canvas_bytes("b2")))
            assert await rig.settle() == []
            assert rig.watcher.status()["vaults"]["notes"]["state"] == "watching"

    _run(scenario())


def test_a_vault_missing_at_start_is_watched_once_it_appears(tmp_path: Path, watched_engine: CanvasEngine,
                                                             own_writes: OwnWrites) -> None:
    root = tmp_path / "later"

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            await rig.expect("vault_missing", None, vault="notes")
            root.mkdir()
            await rig.expect("vault_restored", None, vault="notes")
            (root / "new.canvas").write_bytes(_canvas_bytes("new"))
            await rig.expect("created", "new.canvas", origin="external")

    _run(scenario())


def test_a_vault_given_through_a_symlink_reports_vault_relative_paths(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites, tmp_path: Path) -> None:
    link = tmp_path / "link-to-vault"
    link.symlink_to(root, target_is_directory=True)

    async def scenario() -> None:
        async with watching(link, watched_engine, own_writes) as rig:
            (root / "deep" / "er").mkdir(parents=True)
            (link / "deep" / "er" / "c.canvas").write_bytes(_canvas_bytes("c"))
            await rig.expect("created", "deep/er/c.canvas", origin="external")

    _run(scenario())


def test_a_folder_moved_out_of_the_vault_deletes_its_canvases(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites, tmp_path: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "x.canvas").write_bytes(_canvas_bytes("x"))

    async def scenario() -> None:
        async with watching(root, watched_engine, own_writes) as rig:
            os.rename(root / "sub", tmp_path / "elsewhere")
            await rig.expect("deleted", "sub/x.canvas", origin="external")

    _run(scenario())


def test_a_disabled_watcher_watches_nothing_and_stop_is_idempotent(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    async def scenario() -> None:
        rig = Rig(root, watched_engine, own_writes, WatcherSettings(enabled=False))
        with rig.watcher:  # started and stopped in the loop thread this time
            await asyncio.wait_for(rig.watcher.wait_ready(), TIMEOUT)
            (root / "a.canvas").write_bytes(_canvas_bytes("a"))
            assert rig.watcher.status()["running"] is False
            rig.watcher.unwatch()
        rig.watcher.unwatch()
        assert rig.events == []

    _run(scenario())


def test_stop_in_the_loop_thread_while_changes_are_pending(
        root: Path, watched_engine: CanvasEngine, own_writes: OwnWrites) -> None:
    async def scenario() -> None:
        rig = Rig(root, watched_engine, own_writes, WatcherSettings(debounce_ms=DEBOUNCE_MS))
        with rig.watcher:
            await asyncio.wait_for(rig.watcher.wait_ready(), TIMEOUT)
            for i in range(5):
                (root / f"{i}.canvas").write_bytes(_canvas_bytes(str(i)))
            await rig.expect("created", "0.canvas")
            (root / "late.canvas").write_bytes(_canvas_bytes("late"))
        assert rig.watcher.status()["running"] is False
        published = len(rig.events)
        await asyncio.sleep(DEBOUNCE_MS / 1000 * 3)  # what was pending at stop is dropped, not published
        assert len(rig.events) == published

    _run(scenario())


def test_own_writes_match_exact_versions_and_deletes_only() -> None:
    own = OwnWrites()
    path = Path("/vault/a.canvas")
    own.record(path, "v1")
    assert own.is_own(path, "v1")
    assert not own.is_own(path, "v2")
    assert not own.is_own(Path("/vault/b.canvas"), "v1")
    assert not own.is_own(path, None)
    own.record(path, None)
    assert own.is_own(path, None)
    assert not own.is_own(path, "v1")  # matched, then superseded by the delete

    forgetful = OwnWrites(ttl=0)
    forgetful.record(path, "v1")
    assert not forgetful.is_own(path, "v1")


def test_debouncer_fires_once_per_quiet_key_and_caps_the_delay() -> None:
    async def scenario() -> None:
        fired: list[str] = []
        done = asyncio.Event()

        def action(key: str) -> None:
            fired.append(key)
            done.set()

        # A quiet period of a minute, capped at 10 ms after the first touch: only the cap can fire it.
        debouncer = Debouncer(asyncio.get_running_loop(), 60.0, 0.01, action)
        for _ in range(5):
            debouncer.touch("a")
        assert len(debouncer) == 1
        await asyncio.wait_for(done.wait(), TIMEOUT)
        assert fired == ["a"] and len(debouncer) == 0
        debouncer.touch("b")
        debouncer.cancel()
        assert len(debouncer) == 0

    _run(scenario())
