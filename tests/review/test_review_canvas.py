"""The day's review canvas in a real daemon: what it holds, built again the same day, the learner's answers
scored, and a build while another program keeps saving the canvas in place (as Obsidian does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from canvasd.canvas.working import WorkingCanvas
from canvasd.review.review_canvas import ReviewCanvasEdit, ReviewItem, cards_on, node_id
from tests.review.test_review_daemon import RED, REVIEW_ON, calculus, card, node, write
from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

WRITER = Path(__file__).parents[1] / "support" / "inplace_writer.py"
DAY = "2026-12-07"


def _build(daemon: DaemonProcess, **body: Any) -> dict[str, Any]:
    answer = daemon.client.post("/v1/review/canvas", json={"vault": "v", **body}, timeout=60)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _doc(daemon: DaemonProcess, path: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((daemon.vault / path).read_text())
    return doc


def _physics(prefix: str = "p", count: int = 3) -> dict[str, Any]:
    return {"nodes": [node(f"{prefix}{i}", f"# Entropy {i}\n**Entropy** grows in **closed systems**.", i * 400, 0, RED)
                      for i in range(count)], "edges": []}


def test_the_canvas_holds_a_question_an_answer_slot_and_a_link_per_card_in_one_group_per_canvas(
        tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config=REVIEW_ON) as daemon:
        write(daemon, calculus())
        write(daemon, _physics(), "science/physics.canvas")
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due")["total"] == 7, "seven cards")
        built = _build(daemon)
        assert built["path"] == f"Review/{built['on']}.canvas" and len(built["cards"]) == 7 == len(built["added"])
        doc = _doc(daemon, built["path"])
        groups = [n for n in doc["nodes"] if n["type"] == "group"]
        assert sorted(g["label"] for g in groups) == ["calc", "physics"]
        by_role: dict[str, list[dict[str, Any]]] = {}
        for item in doc["nodes"]:
            by_role.setdefault(item["canvasd"]["role"], []).append(item)
        assert len(by_role["question"]) == len(by_role["answer"]) == len(by_role["source"]) == 7
        assert all(a["text"] == "" and a["color"] == "3" for a in by_role["answer"])
        assert {s["file"] for s in by_role["source"]} == {"calc.canvas", "science/physics.canvas"}
        assert any("Limits" in q["text"] for q in by_role["question"])
        for group in groups:  # every card's nodes lie inside its canvas's group
            members = [n for n in doc["nodes"] if n["canvasd"].get("card", "").startswith(group["canvasd"]["canvas"])]
            assert len(members) == 3 * (4 if group["label"] == "calc" else 3)
            for item in members:
                assert group["x"] <= item["x"] and item["x"] + item["width"] <= group["x"] + group["width"]
                assert group["y"] <= item["y"] and item["y"] + item["height"] <= group["y"] + group["height"]
        edges = {(e["fromNode"], e["toNode"]) for e in doc["edges"]}
        for question in by_role["question"]:
            ref = question["canvasd"]["card"]
            assert (question["id"], node_id(ref, "answer")) in edges
            assert (question["id"], node_id(ref, "source")) in edges
        assert not _overlapping(doc)
        # the review canvas's own nodes are no cards, and nothing on it was reviewed
        assert daemon.get_json("/v1/review/due")["total"] == 7
        assert all(c["path"] != built["path"] for c in daemon.get_json("/v1/review/due")["cards"])


def _overlapping(doc: dict[str, Any]) -> list[tuple[str, str]]:
    boxes = [n for n in doc["nodes"] if n["type"] != "group"]
    return [(a["id"], b["id"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


def test_building_again_adds_what_became_due_and_keeps_the_learners_answers(tmp_path: Path) -> None:
    config = {"review": {**REVIEW_ON["review"], "recolour": False}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        write(daemon, calculus())
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due")["total"] == 4, "four cards")
        built = _build(daemon)
        path = built["path"]
        assert _build(daemon) | {"added": None} == built | {"added": None}
        assert _build(daemon)["added"] == []
        before = (daemon.vault / path).read_bytes()
        assert _build(daemon)["added"] == [] and (daemon.vault / path).read_bytes() == before  # nothing rewritten
        # the learner answers one question, in their own words, and moves its answer node
        doc = _doc(daemon, path)
        slot = next(n for n in doc["nodes"] if n["id"] == node_id("calc.canvas#limit", "answer"))
        slot["text"] = ("A limit is the value a function approaches as the input approaches a point, like walking "
                        "towards a wall: you get as close as you like.")
        slot["x"] += 7
        (daemon.vault / path).write_text(obsidian(doc))
        reviewed = _wait_answer(daemon, "limit")
        assert reviewed["source"] == "answer" and reviewed["scheduled"] is True
        # a new concept becomes due: the second build adds it and leaves the answer as written
        source = calculus()
        source["nodes"].append(node("chain", "# Chain rule\nThe derivative of f(g(x)) is f'(g(x))·g'(x).", 0, 800,
                                    RED))
        write(daemon, source)
        daemon.wait_for(lambda: daemon.client.get("/v1/review/cards/v/calc.canvas/nodes/chain").status_code == 200,
                        "the new card")
        again = _build(daemon)
        assert again["added"] == ["calc.canvas#chain"] and "calc.canvas#limit" in again["cards"]
        after = {n["id"]: n for n in _doc(daemon, path)["nodes"]}
        assert after[slot["id"]] == slot
        assert len(card(daemon, "limit")["log"]) == 1  # the rebuild scored nothing twice


def _wait_answer(daemon: DaemonProcess, node_id_: str) -> dict[str, Any]:
    daemon.wait_for(lambda: len(card(daemon, node_id_)["log"]) == 1, "the answer to be scored")
    entry: dict[str, Any] = card(daemon, node_id_)["log"][0]
    return entry


def test_a_build_while_another_program_saves_the_canvas_in_place_loses_nothing(tmp_path: Path) -> None:
    config = {"review": {**REVIEW_ON["review"], "daily_limit": 200}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        write(daemon, _physics("a", 4), "a.canvas")
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due")["total"] == 4, "four cards")
        path = _build(daemon)["path"]
        stop = tmp_path / "stop"
        writer = subprocess.Popen([sys.executable, str(WRITER), str(stop), str(daemon.vault / path)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            for round_ in range(6):
                write(daemon, _physics(f"r{round_}-", 3), f"round{round_}.canvas")
                daemon.wait_for(lambda r=round_: daemon.client.get(
                    f"/v1/review/cards/v/round{r}.canvas/nodes/r{r}-2").status_code == 200, "new cards")
                _build(daemon)
        finally:
            stop.touch()
            out, _ = writer.communicate(timeout=60)
        external = {line.split()[1] for line in out.splitlines() if line.startswith("ext ")}
        assert len(external) >= 3
        doc = _doc(daemon, path)
        ids = {n["id"] for n in doc["nodes"]}
        assert external <= ids, f"the other program's edits were lost: {sorted(external - ids)}"
        assert len(cards_on(doc)) == 4 + 6 * 3
        questions = [n for n in doc["nodes"] if n.get("canvasd", {}).get("role") == "question"]
        assert len(questions) == len({q["id"] for q in questions}) == 22


def test_the_edit_is_idempotent_on_any_canvas_it_meets() -> None:
    items = [ReviewItem("a.canvas", f"n{i}", f"N{i}", f"Question {i}?") for i in range(3)]
    canvas = WorkingCanvas(None)
    first = ReviewCanvasEdit(DAY, items[:2], limit=10)
    first.apply(canvas)
    assert first.added == ["a.canvas#n0", "a.canvas#n1"]
    second = ReviewCanvasEdit(DAY, items, limit=10)
    second.apply(canvas)
    assert second.added == ["a.canvas#n2"] and second.cards == ["a.canvas#n0", "a.canvas#n1", "a.canvas#n2"]
    third = ReviewCanvasEdit(DAY, items, limit=10)
    third.apply(canvas)
    assert third.added == []
    capped = WorkingCanvas(None)
    limited = ReviewCanvasEdit(DAY, items, limit=2)
    limited.apply(capped)
    assert limited.added == ["a.canvas#n0", "a.canvas#n1"]
    doc = canvas.document() or {}
    group = next(n for n in doc["nodes"] if n["type"] == "group")
    assert all(group["y"] <= n["y"] and n["y"] + n["height"] <= group["y"] + group["height"]
               for n in doc["nodes"] if n is not group)


def test_a_daemon_started_after_the_daily_time_builds_the_days_canvas_itself(tmp_path: Path) -> None:
    config = {"review": {"enabled": True, "daily_at": "00:00", "timezone": "UTC"}}
    daemon = DaemonProcess(tmp_path / "d", config=config)
    try:
        write(daemon, calculus())  # before the start: the laptop was off at the daily time, the cards are there
        daemon.start()
        daemon.wait_for(lambda: daemon.get_json("/v1/health")["subsystems"]["review"] == "ready", "review ready")
        today = daemon.get_json("/v1/review/stats")["on"]
        daemon.wait_for(lambda: (daemon.vault / "Review" / f"{today}.canvas").exists(), "the catch-up build")
        daemon.wait_for(lambda: len(cards_on(_doc(daemon, f"Review/{today}.canvas"))) == 4, "four cards on it")
        jobs = daemon.get_json("/v1/jobs")
        assert any(j["kind"] == "review_canvas" for j in jobs["recent"] + jobs["running"])
    finally:
        daemon.close()
