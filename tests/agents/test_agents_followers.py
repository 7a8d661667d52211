"""The agents as a follower of the change feed (triggers) and with the real semantic index (relate)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agents.test_agents_daemon import LEARNING, RED, _boxes_disjoint, _node
from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon


def _runs(daemon: DaemonProcess) -> list[dict]:
    return daemon.get_json("/v1/agents/runs")["runs"]


def test_a_node_the_learner_turns_red_gets_questions_once(tmp_path: Path) -> None:
    doc = {"nodes": [_node("a", "# Entropy\nWhy does **entropy** grow in a **closed system**?", 0, 0),
                     _node("b", "# Enthalpy\nHeat content of a system at **constant pressure**.", 0, 400)],
           "edges": []}
    with running_daemon(tmp_path / "d", config={"agents": {"triggers": {"not_understood": "decompose"}}}) as daemon:
        path = daemon.vault / "t.canvas"
        path.write_text(obsidian(doc))
        daemon.wait_for(lambda: daemon.get_json("/v1/health")["subsystems"]["agents"] == "ready", "agents ready")
        assert _runs(daemon) == []
        doc["nodes"][0]["color"] = RED  # the learner marks "a" red (as Obsidian saves: the whole file)
        path.write_text(obsidian(doc))
        daemon.wait_for(lambda: any(r["state"] == "done" for r in _runs(daemon)), "the triggered run")
        first = _runs(daemon)
        assert [(r["agent"], r["nodes"]) for r in first] == [("decompose", ["a"])]
        on_disk = json.loads(path.read_text())
        doc["nodes"] = on_disk["nodes"] + []
        next(n for n in doc["nodes"] if n["id"] == "b")["color"] = RED
        doc["edges"] = on_disk["edges"]
        path.write_text(obsidian(doc))  # "b" turns red; "a" stays red, and the questions canvasd added stay
        daemon.wait_for(lambda: len(_runs(daemon)) >= 2 and all(r["state"] == "done" for r in _runs(daemon)),
                        "the second triggered run")
        assert sorted(r["nodes"][0] for r in _runs(daemon)) == ["a", "b"]
        assert not _boxes_disjoint(json.loads(path.read_text()))
        fresh = {"nodes": [_node("c", "# Osmosis\nWater crosses a **membrane** towards more **solute**.", 0, 0, RED)],
                 "edges": []}
        (daemon.vault / "new.canvas").write_text(obsidian(fresh))  # a canvas made since the start, red already
        daemon.wait_for(lambda: len(_runs(daemon)) >= 3 and all(r["state"] == "done" for r in _runs(daemon)),
                        "the run triggered by a new canvas")
        assert next((r["path"], r["nodes"]) for r in _runs(daemon)) == ("new.canvas", ["c"])


def test_relate_links_a_node_to_the_nearest_canvas_by_meaning(tmp_path: Path) -> None:
    plants = {"nodes": [_node("leaf", "Chlorophyll in the leaves absorbs sunlight; plants make sugar from light, "
                                      "water and carbon dioxide.", 0, 0),
                        _node("soil", "Soil erosion and crop rotation in farming.", 0, 300)], "edges": []}
    stars = {"nodes": [_node("star", "Neutron stars form after a supernova collapses a massive star.", 0, 0)],
             "edges": []}
    with running_daemon(tmp_path / "d", config={"index": {"enabled": True}}) as daemon:
        (daemon.vault / "bio.canvas").write_text(obsidian(LEARNING))
        (daemon.vault / "plants.canvas").write_text(obsidian(plants))
        (daemon.vault / "space.canvas").write_text(obsidian(stars))
        daemon.wait_for(lambda: daemon.get_json("/v1/index/status")["state"] == "ready", "the index", timeout=180)
        answer = daemon.client.post("/v1/agents/relate/runs", json={
            "vault": "v", "path": "bio.canvas", "nodes": ["photo"], "options": {"limit": 1}}, timeout=60)
        run = answer.json()["run"]
        assert run["state"] == "done" and run["nodes_added"] == 1, run
        assert run["result"]["related"][0]["path"] == "plants.canvas"
        doc = json.loads((daemon.vault / "bio.canvas").read_text())
        linked = next(n for n in doc["nodes"] if n.get("canvasd", {}).get("role") == "related")
        assert linked["type"] == "file" and linked["file"] == "plants.canvas"
        edge = next(e for e in doc["edges"] if e["toNode"] == linked["id"])
        assert edge["fromNode"] == "photo" and edge["label"].startswith("related 0.")
        again = daemon.client.post("/v1/agents/relate/runs", json={
            "vault": "v", "path": "bio.canvas", "nodes": ["photo"], "options": {"limit": 1}}, timeout=60)
        assert again.json()["run"]["result"]["related"][0]["path"] != "plants.canvas"  # only what is new
