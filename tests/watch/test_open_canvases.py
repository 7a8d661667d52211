"""Canvases open in Obsidian: a stand-in for the plugin leases a canvas, and the daemon's own writes to it (an agent
run, a review recolour) arrive as proposals on the feed instead of file writes; unanswered or refused, the daemon
writes the file itself. The stand-in keeps the canvas "in memory" with an edit the learner has not saved yet."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, EventStream, running_daemon

PHYSICAL = "canvasd_canvas_physical_writes_total"
DOC = {"nodes": [{"id": "ent", "type": "text", "text": "# Entropy\nWhy does **entropy** grow in **closed systems**?",
                  "x": 0, "y": 0, "width": 300, "height": 120, "color": "1"}], "edges": []}
TYPED = {"id": "typed", "type": "text", "text": "what the learner typed a second ago", "x": 0, "y": -600,
         "width": 300, "height": 80}


def apply_ops(doc: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """What the plugin does with a proposal: the ops applied to the live canvas (the stand-in's model)."""
    for op in ops:
        if op["op"] == "add_node":
            doc["nodes"].append(op["node"])
        elif op["op"] == "add_edge":
            doc["edges"].append(op["edge"])
        elif op["op"] == "update_node":
            next(n for n in doc["nodes"] if n["id"] == op["id"]).update(op["set"])
        else:
            raise AssertionError(f"unexpected op {op['op']}")


def _lease(daemon: DaemonProcess, ttl: float = 60) -> None:
    answer = daemon.client.put("/v1/leases/obsidian-1", json={"canvases": [{"vault": "v", "path": "t.canvas"}],
                                                               "ttl_s": ttl})
    assert answer.status_code == 200, answer.text
    assert answer.json()["canvases"] == [{"vault": "v", "path": "t.canvas"}]


def _run(daemon: DaemonProcess) -> str:
    answer = daemon.client.post("/v1/agents/decompose/runs", json={"vault": "v", "path": "t.canvas",
                                                                   "nodes": ["ent"], "wait": False})
    assert answer.status_code == 202, answer.text
    run_id: str = answer.json()["run"]["id"]
    return run_id


def _proposed(daemon: DaemonProcess, action: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """What `action` returns, and the proposal event it caused."""
    stream = EventStream(daemon)
    try:
        done = action()
        return done, stream.until(lambda e: e["kind"] == "proposal")
    finally:
        stream.close()


def _finished(daemon: DaemonProcess, run_id: str) -> dict[str, Any]:
    daemon.wait_for(lambda: daemon.get_json(f"/v1/agents/runs/{run_id}")["run"]["state"] in ("done", "failed"),
                    "the run to end", timeout=30)
    run: dict[str, Any] = daemon.get_json(f"/v1/agents/runs/{run_id}")["run"]
    return run


@pytest.fixture
def leased(tmp_path: Path) -> DaemonProcess:
    # the answer is awaited 3 s: a loaded test machine still answers in time, and the unanswered case stays short
    config = {"leases": {"proposal_timeout_s": 3.0}, "review": {"enabled": True, "daily_canvas": False}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        (daemon.vault / "t.canvas").write_text(obsidian(DOC))
        daemon.wait_background()
        _lease(daemon)
        yield daemon


def test_an_agent_run_on_an_open_canvas_is_applied_by_the_plugin_and_the_learners_edit_survives(
        leased: DaemonProcess) -> None:
    path = leased.vault / "t.canvas"
    writes = leased.metric(PHYSICAL)
    run_id, proposal = _proposed(leased, lambda: _run(leased))
    detail = proposal["detail"]
    assert proposal["path"] == "t.canvas" and detail["client"] == "obsidian-1"
    assert any(op["op"] == "add_node" for op in detail["ops"])
    # the plugin claims the proposal first and applies it only once the daemon has accepted the claim (a late
    # claim gets 404: the daemon wrote the file itself, and applying as well would add the nodes twice)
    answer = leased.client.post(f"/v1/proposals/{detail['id']}", json={"applied": True})
    assert answer.status_code == 200, answer.text
    live = json.loads(path.read_text())
    live["nodes"].append(TYPED)  # the learner's newest edit, still only in Obsidian's memory
    apply_ops(live, detail["ops"])
    path.write_text(obsidian(live))  # Obsidian saves the live canvas
    run = _finished(leased, run_id)
    assert run["state"] == "done", run["error"]
    assert run["nodes_added"] == sum(op["op"] == "add_node" for op in detail["ops"]) >= 3
    on_disk = json.loads(path.read_text())
    ids = {n["id"] for n in on_disk["nodes"]}
    assert "typed" in ids and {op["node"]["id"] for op in detail["ops"] if op["op"] == "add_node"} <= ids
    assert leased.metric(PHYSICAL) == writes  # the daemon never wrote the open canvas
    assert leased.metric('canvasd_proposals_total{outcome="applied"}') == 1
    assert leased.client.post(f"/v1/proposals/{detail['id']}", json={"applied": True}).status_code == 404


@pytest.mark.parametrize("answer", [None, {"applied": False, "reason": "the canvas view is gone"}])
def test_an_unanswered_or_refused_proposal_is_written_to_the_file(leased: DaemonProcess,
                                                                  answer: dict[str, Any] | None) -> None:
    run_id, proposal = _proposed(leased, lambda: _run(leased))
    if answer is not None:
        assert leased.client.post(f"/v1/proposals/{proposal['detail']['id']}", json=answer).status_code == 200
    run = _finished(leased, run_id)
    assert run["state"] == "done" and run["nodes_added"] >= 3
    ids = {n["id"] for n in json.loads((leased.vault / "t.canvas").read_text())["nodes"]}
    assert {op["node"]["id"] for op in run["ops"] if op["op"] == "add_node"} <= ids
    assert leased.metric('canvasd_proposals_total{outcome="written"}') == 1


def test_without_a_live_lease_writes_go_to_the_file(leased: DaemonProcess) -> None:
    assert leased.client.delete("/v1/leases/obsidian-1").json() == {"client": "obsidian-1", "released": 1}
    assert leased.get_json("/v1/leases") == {"leases": []}
    run = _finished(leased, _run(leased))
    assert run["state"] == "done" and leased.metric("canvasd_proposals_total") == 0
    _lease(leased, ttl=0.2)  # a lease not renewed runs out
    leased.wait_for(lambda: leased.get_json("/v1/leases") == {"leases": []}, "the lease to run out")
    run = _finished(leased, _run(leased))
    assert run["state"] == "done" and leased.metric("canvasd_proposals_total") == 0


def test_a_rating_recolours_an_open_canvas_through_the_plugin(leased: DaemonProcess) -> None:
    leased.wait_for(lambda: leased.client.get("/v1/review/cards/v/t.canvas/nodes/ent").status_code == 200, "a card")
    rated, proposal = _proposed(leased, lambda: leased.client.post(
        "/v1/review/cards/v/t.canvas/nodes/ent/ratings", json={"rating": "good"}))
    assert rated.status_code == 200, rated.text
    assert proposal["detail"]["ops"] == [{"op": "update_node", "id": "ent", "set": {"color": "4"}}]
    assert leased.client.post(f"/v1/proposals/{proposal['detail']['id']}", json={"applied": True}).status_code == 200
    path = leased.vault / "t.canvas"
    live = json.loads(path.read_text())
    apply_ops(live, proposal["detail"]["ops"])
    path.write_text(obsidian(live))
    leased.wait_for(lambda: _colour_on_disk(leased) == "4" and leased.metric(
        'canvasd_proposals_total{outcome="applied"}') == 1, "the plugin's save")
    leased.client.post("/v1/flush")
    log = leased.get_json("/v1/review/cards/v/t.canvas/nodes/ent")["log"]
    assert [e["source"] for e in log] == ["rating"]  # the plugin's save of canvasd's colour is no second review


def _colour_on_disk(daemon: DaemonProcess) -> str | None:
    doc = json.loads((daemon.vault / "t.canvas").read_text())
    colour: str | None = doc["nodes"][0].get("color")
    return colour


def test_bad_lease_and_answer_requests_get_clear_errors(leased: DaemonProcess) -> None:
    for body, status in (({"canvases": "t.canvas"}, 400), ({"canvases": [{"vault": "v"}]}, 400),
                         ({"canvases": [], "ttl_s": -1}, 400), ({"canvases": [], "when": 1}, 400),
                         ({"canvases": [{"vault": "nope", "path": "t.canvas"}]}, 404),
                         ({"canvases": [{"vault": "v", "path": "../x.canvas"}]}, 400)):
        answer = leased.client.put("/v1/leases/c", json=body)
        assert answer.status_code in ((status, 403) if status == 400 else (status,)), (body, answer.text)
    assert leased.client.post("/v1/proposals/nope", json={"applied": True}).status_code == 404
    assert leased.client.post("/v1/proposals/nope", json={"applied": "yes"}).status_code == 400
    assert leased.get_json("/v1/leases")["leases"][0]["client"] == "obsidian-1"  # the good lease is untouched


def test_an_agent_edit_applied_twice_adds_its_nodes_once() -> None:
    from canvasd.agents.edit import AgentEdit
    from canvasd.agents.rules import CheckedOps
    from canvasd.canvas.working import WorkingCanvas

    checked = CheckedOps(nodes=[{"id": "r-1", "type": "text", "text": "Why?", "canvasd": {"source": "ent",
                                                                                         "role": "question"}}],
                         edges=[{"id": "r-e1", "fromNode": "ent", "toNode": "r-1"}])
    canvas = WorkingCanvas(json.loads(json.dumps(DOC)))
    first = AgentEdit(checked, {"agent": "decompose", "run": "r"})
    first.apply(canvas)
    assert [op["op"] for op in first.applied] == ["add_node", "add_edge"]
    again = first.again()
    again.apply(canvas)  # the same answer once more (a proposal the plugin applied, then written after all)
    assert again.applied == []
    doc = canvas.document() or {}
    assert [n["id"] for n in doc["nodes"]] == ["ent", "r-1"] and [e["id"] for e in doc["edges"]] == ["r-e1"]
