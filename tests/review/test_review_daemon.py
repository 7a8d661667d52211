"""Spaced repetition in a real daemon: colour changes arriving through the watcher, ratings through the API and
the CLI, schedules equal to what `fsrs` computes, a SIGKILL, renamed canvases and moved nodes."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsrs
import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, EventStream, canvasd_command, running_daemon

RED, PURPLE, GREEN, YELLOW = "1", "6", "4", "3"
REVIEW_ON = {"review": {"enabled": True, "daily_canvas": False, "timezone": "UTC"}}


def node(node_id: str, text: str, x: int, y: int, color: str | None = None, kind: str = "text") -> dict[str, Any]:
    item: dict[str, Any] = {"id": node_id, "type": kind, "x": x, "y": y, "width": 300, "height": 120}
    if kind == "text":
        item["text"] = text
    elif kind == "file":
        item["file"] = text
    else:
        item["url"] = text
    if color:
        item["color"] = color
    return item


def calculus() -> dict[str, Any]:
    return {"nodes": [
        node("limit", "# Limits\nA **limit** is the value a function approaches as its input approaches a point.",
             0, 0, RED),
        node("deriv", "# Derivatives\nThe **derivative** measures the rate of change: the slope of the tangent.",
             400, 0, PURPLE),
        node("mine", "A limit is like walking halfway to a wall forever.", 0, 200, YELLOW),
        node("plain", "An uncoloured note", 800, 0),
        node("notes", "notes/limits.md", 800, 200, GREEN, kind="file"),
        node("web", "https://en.wikipedia.org/wiki/Limit_(mathematics)", 800, 400, GREEN, kind="link"),
        node("asked", "What is a limit?", 0, 400, "5") | {"canvasd": {"agent": "verify", "role": "question"}},
    ], "edges": []}


def write(daemon: DaemonProcess, doc: dict[str, Any], path: str = "calc.canvas") -> None:
    target = daemon.vault / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(obsidian(doc))


def card(daemon: DaemonProcess, node_id: str, path: str = "calc.canvas") -> dict[str, Any]:
    answer: dict[str, Any] = daemon.get_json(f"/v1/review/cards/v/{path}/nodes/{node_id}")
    return answer


def wait_log(daemon: DaemonProcess, node_id: str, entries: int, path: str = "calc.canvas") -> dict[str, Any]:
    daemon.wait_for(lambda: len(card(daemon, node_id, path)["log"]) >= entries, f"{entries} reviews of {node_id}")
    return card(daemon, node_id, path)


@pytest.fixture
def review_daemon(tmp_path: Path) -> DaemonProcess:
    with running_daemon(tmp_path / "d", config=REVIEW_ON) as daemon:
        write(daemon, calculus())
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due")["total"] == 4, "four cards")
        yield daemon


def test_coloured_concepts_become_cards_due_now_without_a_review(review_daemon: DaemonProcess) -> None:
    due = review_daemon.get_json("/v1/review/due")
    assert {c["node"] for c in due["cards"]} == {"limit", "deriv", "notes", "web"}  # not yellow, plain, agent-added
    for item in due["cards"]:
        assert item["state"] == "new" and item["retrievability"] == 0 and item["stability"] is None
        assert item["key"] == f"v/calc.canvas#{item['node']}"
    assert card(review_daemon, "limit")["log"] == []
    assert card(review_daemon, "limit")["card"]["title"] == "Limits"
    for missing in ("mine", "plain", "asked", "nope"):
        answer = review_daemon.client.get(f"/v1/review/cards/v/calc.canvas/nodes/{missing}")
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "card_not_found"


def test_colour_changes_are_reviews_and_only_the_first_of_a_day_counts(review_daemon: DaemonProcess) -> None:
    doc = calculus()
    stream = EventStream(review_daemon)
    try:
        doc["nodes"][0]["color"] = GREEN  # red -> green: recalled
        write(review_daemon, doc)
        event = stream.until(lambda e: e["kind"] == "review")
    finally:
        stream.close()
    assert event["detail"] | {"due": None} == {"node": "limit", "rating": "good", "source": "colour",
                                                "scheduled": True, "due": None}
    first = wait_log(review_daemon, "limit", 1)
    assert first["card"]["state"] == "review" and first["card"]["stability"] > 0
    doc["nodes"][0]["color"] = PURPLE  # later the same day: logged, not scheduled
    write(review_daemon, doc)
    second = wait_log(review_daemon, "limit", 2)
    assert [(e["rating"], e["scheduled"]) for e in second["log"]] == [("good", True), ("hard", False)]
    assert second["card"]["due"] == first["card"]["due"] and second["card"]["stability"] == first["card"]["stability"]
    assert card(review_daemon, "deriv")["log"] == []  # untouched nodes keep their cards as they were


def test_removing_a_colour_or_a_node_suspends_the_card_and_keeps_its_history(review_daemon: DaemonProcess) -> None:
    doc = calculus()
    doc["nodes"][0]["color"] = GREEN
    write(review_daemon, doc)
    wait_log(review_daemon, "limit", 1)
    del doc["nodes"][0]["color"]
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] != "web"]
    write(review_daemon, doc)
    review_daemon.wait_for(lambda: card(review_daemon, "limit")["card"]["state"] == "suspended", "a suspension")
    review_daemon.wait_for(lambda: card(review_daemon, "web")["card"]["state"] == "suspended", "a suspension")
    assert len(card(review_daemon, "limit")["log"]) == 1
    assert {c["node"] for c in review_daemon.get_json("/v1/review/due?on=2099-01-01")["cards"]} == {"deriv", "notes"}
    doc["nodes"][0]["color"] = GREEN  # the colour back as it was: resumed, no review
    write(review_daemon, doc)
    review_daemon.wait_for(lambda: card(review_daemon, "limit")["card"]["state"] == "review", "the card resumed")
    assert len(card(review_daemon, "limit")["log"]) == 1


def test_moved_nodes_and_a_renamed_canvas_keep_their_cards(review_daemon: DaemonProcess) -> None:
    doc = calculus()
    doc["nodes"][0]["color"] = GREEN
    write(review_daemon, doc)
    before = wait_log(review_daemon, "limit", 1)
    for item in doc["nodes"]:
        item["x"] += 1000
        item["y"] -= 500
    write(review_daemon, doc)
    (review_daemon.vault / "calc.canvas").rename(review_daemon.vault / "Calculus.canvas")
    review_daemon.wait_for(lambda: review_daemon.client.get(
        "/v1/review/cards/v/Calculus.canvas/nodes/limit").status_code == 200, "the cards to follow the rename")
    after = card(review_daemon, "limit", "Calculus.canvas")
    assert after["log"] == before["log"] and after["card"]["due"] == before["card"]["due"]
    assert after["card"]["state"] == "review"
    assert review_daemon.client.get("/v1/review/cards/v/calc.canvas/nodes/limit").status_code == 404
    assert {c["path"] for c in review_daemon.get_json("/v1/review/due?on=2099-01-01")["cards"]} == {"Calculus.canvas"}


def test_ratings_over_many_days_give_what_fsrs_computes(review_daemon: DaemonProcess) -> None:
    ratings = ["hard", "good", "again", "good", "easy", "good"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)
    times = [start + timedelta(days=d, hours=2) for d in (0, 2, 7, 8, 15, 40)]
    scheduler = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    expected = fsrs.Card(card_id=1)
    for rating, at in zip(ratings, times, strict=True):
        answer = review_daemon.client.post("/v1/review/cards/v/calc.canvas/nodes/deriv/ratings",
                                           json={"rating": rating, "at": at.isoformat()})
        assert answer.status_code == 200, answer.text
        expected, _ = scheduler.review_card(expected, fsrs.Rating[rating.capitalize()], review_datetime=at)
        got = answer.json()["card"]
        assert got["due"] == expected.due.isoformat().replace("+00:00", "Z")
        assert got["stability"] == pytest.approx(expected.stability, rel=1e-12)
        assert got["difficulty"] == pytest.approx(expected.difficulty, rel=1e-12)
        assert answer.json()["review"] == {"rating": rating, "source": "rating", "scheduled": True}
    same_day = review_daemon.client.post("/v1/review/cards/v/calc.canvas/nodes/deriv/ratings",
                                         json={"score": 30, "at": (times[-1] + timedelta(hours=1)).isoformat()})
    assert same_day.json()["review"] == {"rating": "again", "source": "score", "scheduled": False}
    assert same_day.json()["card"]["due"] == expected.due.isoformat().replace("+00:00", "Z")
    # the rating recoloured the node (green for good); that write is canvasd's own, not a second review
    review_daemon.wait_for(lambda: _colour(review_daemon, "deriv") == RED, "the node recoloured")
    review_daemon.client.post("/v1/flush")
    log = card(review_daemon, "deriv")["log"]
    assert [e["source"] for e in log] == ["rating"] * 6 + ["score"]


def _colour(daemon: DaemonProcess, node_id: str, path: str = "calc.canvas") -> str | None:
    doc = json.loads((daemon.vault / path).read_text())
    return next(n.get("color") for n in doc["nodes"] if n["id"] == node_id)


def test_bad_review_requests_get_clear_errors(review_daemon: DaemonProcess) -> None:
    url = "/v1/review/cards/v/calc.canvas/nodes/limit/ratings"
    for body, word in (({"rating": "perfect"}, "again, hard"), ({"score": 140}, "0 to 100"), ({}, "either"),
                       ({"rating": "good", "score": 90}, "either"), ({"rating": "good", "when": 1}, "'when'"),
                       ({"rating": "good", "at": "yesterday"}, "ISO"), ([1], "JSON object"),
                       ({"rating": "good", "at": "2999-01-01T00:00:00Z"}, "future")):
        answer = review_daemon.client.post(url, json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert word in answer.json()["error"]["message"]
    assert review_daemon.client.get("/v1/review/due?on=tomorrow").status_code == 400
    assert review_daemon.client.get("/v1/review/due?limit=0").status_code == 400
    assert review_daemon.client.get("/v1/review/due?vault=nope").status_code == 404
    assert review_daemon.client.get("/v1/review/cards/v/..%2Fx.canvas/nodes/a").status_code in (400, 403)
    assert review_daemon.client.post("/v1/review/canvas", json={"vault": "v", "on": "soon"}).status_code == 400
    assert review_daemon.client.post("/v1/review/canvas", json={"on": "2026-01-01"}).status_code == 400
    assert card(review_daemon, "limit")["log"] == []


def test_a_sigkill_between_a_colour_change_and_its_review_leaves_the_card_consistent(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d", config=REVIEW_ON)
    try:
        daemon.start()
        write(daemon, calculus())
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due")["total"] == 4, "four cards")
        doc = calculus()
        doc["nodes"][0]["color"] = GREEN
        write(daemon, doc)
        changed_at = (daemon.vault / "calc.canvas").stat().st_mtime
        daemon.stop(signal.SIGKILL)  # before or after the review was recorded: the outcome must be the same
        daemon.start()
        daemon.wait_background()
        after = wait_log(daemon, "limit", 1)
        assert [(e["rating"], e["source"], e["scheduled"]) for e in after["log"]] == [("good", "colour", True)]
        at = datetime.fromisoformat(after["log"][0]["at"])
        assert abs(at.timestamp() - changed_at) < 1.5  # the time of the change, not of the restart
        scheduler = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
        want, _ = scheduler.review_card(fsrs.Card(card_id=1), fsrs.Rating.Good, review_datetime=at)
        assert after["card"]["stability"] == pytest.approx(want.stability, rel=1e-9)
        daemon.stop()
        daemon.start()
        daemon.wait_background()
        assert card(daemon, "limit")["log"] == after["log"]  # nothing counted twice after a clean restart either
    finally:
        daemon.close()


def test_the_cli_lists_rates_builds_and_counts(review_daemon: DaemonProcess) -> None:
    def cli(*args: str) -> str:
        run = subprocess.run([*canvasd_command(), "--socket", str(review_daemon.socket), "review", *args],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return run.stdout

    listing = cli()
    assert "4 cards due on" in listing and "Limits" in listing and "Derivatives" in listing
    rated = cli("rate", "v", "calc.canvas", "limit", "good")
    assert rated.startswith("Limits: good; next review")
    assert "3 cards due" in cli()
    built = cli("canvas")
    assert "v:Review/" in built and "3 cards (3 added now)" in built
    assert "reviewed today: 1" in cli("stats")
    stats = json.loads(cli("--json", "stats"))
    assert stats["reviewed_today"] == 1 and stats["due_today"] == 3 and stats["streak_days"] == 1
