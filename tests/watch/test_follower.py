"""The follower base (watch/follower.py): event filter, queue per canvas, read-or-remove, reconcile at start.

A small follower keeps, per canvas, the node ids and the file stamp it synced; everything around it is real:
files in a vault, the canvas engine, the job scheduler and the change feed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from canvasd.canvas import CanvasEngine
from canvasd.canvas.vaults import VaultRegistry
from canvasd.config import load_settings
from canvasd.jobs.scheduler import JobScheduler, Priority
from canvasd.metrics import Metrics
from canvasd.subsystem import Phase
from canvasd.watch.feed import ChangeFeed
from canvasd.watch.follower import Absent, CanvasKey, FeedFollower, FileStamp


def canvas(*ids: str) -> str:
    nodes = [{"id": i, "type": "text", "text": i, "x": 0, "y": 0, "width": 10, "height": 10} for i in ids]
    return json.dumps({"nodes": nodes, "edges": []})


class NodeIds(FeedFollower):
    """Keeps the node ids of every canvas; `kept` is its store, `log` what each sync did."""

    name: ClassVar[str] = "node_ids"
    title: ClassVar[str] = "the node-id list"
    progress_event: ClassVar[str | None] = "node_ids_progress"

    def __init__(self, engine: CanvasEngine, vaults: VaultRegistry, scheduler: JobScheduler, feed: ChangeFeed,
                 kept: dict[CanvasKey, tuple[FileStamp, list[str]]], *, enabled: bool = True) -> None:
        super().__init__(engine, vaults, scheduler, feed, enabled=enabled)
        self.kept = kept
        self.log: list[tuple[str, str]] = []
        self.opened = 0

    async def open(self) -> None:
        self.opened += 1

    def known_canvases(self) -> Mapping[CanvasKey, FileStamp | None]:
        return {key: stamp for key, (stamp, _) in self.kept.items()}

    async def sync(self, vault: str, path: str, priority: Priority) -> str:
        return await self._scheduler.run_blocking("node_ids_sync", lambda: self._sync(vault, path), priority)

    def _sync(self, vault: str, path: str) -> str:
        snapshot = self.read_canvas(vault, path)
        if isinstance(snapshot, Absent):
            if snapshot is Absent.GONE:
                self.kept.pop((vault, path), None)
            self.log.append((path, snapshot.value))
            return snapshot.value
        assert snapshot.signature is not None
        ids = [node["id"] for node in snapshot.document["nodes"]]
        self.kept[(vault, path)] = ((snapshot.signature[0], snapshot.signature[1]), ids)
        self.log.append((path, "synced"))
        return "changed"


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.vault = tmp_path / "vault"
        self.vault.mkdir(exist_ok=True)
        self.settings = load_settings(daemon={"vaults": {"v": self.vault}, "data_dir": tmp_path / "data"},
                                      batch_writer={"fsync": False})
        self.metrics = Metrics()
        self.engine = CanvasEngine(self.settings, self.metrics)
        self.vaults = VaultRegistry(self.settings.daemon.vaults)

    async def follower(self, kept: dict[CanvasKey, tuple[FileStamp, list[str]]],
                       **kwargs: bool) -> tuple[NodeIds, JobScheduler, ChangeFeed]:
        scheduler = JobScheduler(self.settings.jobs, self.metrics)
        await scheduler.start()
        feed = ChangeFeed(64, self.metrics)
        follower = NodeIds(self.engine, self.vaults, scheduler, feed, kept, **kwargs)
        feed.add_listener(follower.on_event)
        return follower, scheduler, feed


def test_reconcile_syncs_what_changed_and_removes_what_is_gone(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    for name in ("same", "edited", "new"):
        (rig.vault / f"{name}.canvas").write_text(canvas(name))
    same = os.stat(rig.vault / "same.canvas")
    kept: dict[CanvasKey, tuple[FileStamp, list[str]]] = {
        ("v", "same.canvas"): ((same.st_mtime_ns, same.st_size), ["same"]),
        ("v", "edited.canvas"): ((1, 1), ["old"]),
        ("v", "deleted.canvas"): ((1, 1), ["gone"]),
        ("old-vault", "x.canvas"): ((1, 1), ["x"]),  # a vault no longer configured
    }

    async def main() -> None:
        follower, scheduler, _ = await rig.follower(kept)
        try:
            await follower.start()
            assert follower.phase is Phase.READY and follower.opened == 1
            assert sorted(follower.log) == [("deleted.canvas", "gone"), ("edited.canvas", "synced"),
                                            ("new.canvas", "synced"), ("x.canvas", "gone")]
            assert {key: ids for key, (_, ids) in kept.items()} == {
                ("v", "same.canvas"): ["same"], ("v", "edited.canvas"): ["edited"], ("v", "new.canvas"): ["new"]}
            assert follower.status()["progress"]["step"] == "ready"
        finally:
            await scheduler.stop()
            await follower.close()
        assert follower.phase is Phase.STOPPED

    asyncio.run(main())
    rig.engine.close()


def test_events_are_filtered_merged_per_canvas_and_read_or_removed(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.vault / "a.canvas").write_text(canvas("a1"))
    kept: dict[CanvasKey, tuple[FileStamp, list[str]]] = {}

    async def main() -> None:
        follower, scheduler, feed = await rig.follower(kept)
        try:
            await follower.start()
            follower.log.clear()
            (rig.vault / "a.canvas").write_text(canvas("a1", "a2"))
            for _ in range(5):  # a burst for one canvas becomes at most two syncs (one running, one queued)
                feed.publish("changed", "v", "a.canvas", version="x", origin="external")
            feed.publish("vault_missing", "v", None)  # not about a canvas: ignored
            feed.publish("index_progress", None, None, detail={})
            await _until(lambda: kept.get(("v", "a.canvas"), ((0, 0), []))[1] == ["a1", "a2"])
            (rig.vault / "a.canvas").unlink()
            feed.publish("deleted", "v", "a.canvas", origin="external")
            await _until(lambda: ("v", "a.canvas") not in kept)
            assert 2 <= len(follower.log) <= 3 and follower.log[-1] == ("a.canvas", "gone"), follower.log
            assert {path for path, _ in follower.log} == {"a.canvas"}
        finally:
            await scheduler.stop()
            await follower.close()

    asyncio.run(main())
    rig.engine.close()


def test_an_away_vault_keeps_everything_and_a_switched_off_follower_does_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.vault / "a.canvas").write_text(canvas("a"))
    kept: dict[CanvasKey, tuple[FileStamp, list[str]]] = {("v", "a.canvas"): ((1, 1), ["a"])}

    async def main() -> None:
        off, off_scheduler, off_feed = await rig.follower({}, enabled=False)
        await off.start()
        off_feed.publish("changed", "v", "a.canvas", origin="external")
        assert off.phase is Phase.OFF and off.opened == 0 and off.pending == 0
        error = off.unavailable()
        assert (error.status, error.code, error.details()) == (503, "subsystem_unavailable",
                                                               {"subsystem": "node_ids", "state": "off"})
        await off_scheduler.stop()
        await off.close()
        assert off.phase is Phase.OFF

        shutil.move(rig.vault, tmp_path / "unmounted")  # the drive is away: nothing is removed
        follower, scheduler, feed = await rig.follower(kept)
        try:
            await follower.start()
            assert follower.phase is Phase.READY and kept == {("v", "a.canvas"): ((1, 1), ["a"])}
            feed.publish("changed", "v", "a.canvas", origin="external")
            await _until(lambda: follower.log == [("a.canvas", "away")])
            assert kept == {("v", "a.canvas"): ((1, 1), ["a"])}
        finally:
            await scheduler.stop()
            await follower.close()

    asyncio.run(main())
    rig.engine.close()


def test_a_failed_open_is_reported_not_raised(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    class Broken(NodeIds):
        async def open(self) -> None:
            raise OSError("the store's folder is read-only")

    async def main() -> None:
        scheduler = JobScheduler(rig.settings.jobs, rig.metrics)
        await scheduler.start()
        feed = ChangeFeed(64, rig.metrics)
        events = []
        feed.add_listener(events.append)
        broken = Broken(rig.engine, rig.vaults, scheduler, feed, {})
        await broken.start()  # never raises
        assert broken.phase is Phase.FAILED and broken.error == "OSError: the store's folder is read-only"
        assert events[-1].kind == "node_ids_progress" and events[-1].detail["phase"] == "failed"
        await broken.wait_opened(0.01)  # a failed open does not keep queries waiting
        assert "failed: OSError" in str(broken.unavailable())
        await scheduler.stop()
        await broken.close()

    asyncio.run(main())
    rig.engine.close()


def test_a_canvas_that_cannot_be_read_is_named_by_its_vault_path(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    (rig.vault / "notes").mkdir()
    (rig.vault / "notes" / "broken.canvas").write_text('{"nodes": [1,]}')
    roots = (str(rig.vault), os.path.realpath(rig.vault))

    async def main() -> None:
        follower, scheduler, _ = await rig.follower({})
        try:
            await follower.start()  # the sync job of the broken canvas fails; the follower carries on
            assert follower.phase is Phase.READY
            errors = [job["error"] for job in scheduler.jobs()["recent"] if job["state"] == "failed"]
            assert len(errors) == 1 and "canvas 'notes/broken.canvas' is not valid JSON" in errors[0], errors
            assert not any(root in errors[0] for root in roots)
        finally:
            await scheduler.stop()
            await follower.close()

    asyncio.run(main())
    rig.engine.close()


async def _until(condition: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
