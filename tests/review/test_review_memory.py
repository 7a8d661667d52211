"""Every review becomes a dated fact in the learning memory (real FalkorDB), so "what did I struggle with last
week" finds it, and a canvas sync afterwards leaves it as history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.review.test_review_daemon import GREEN, calculus, write
from tests.support.daemon import running_daemon

SYNCED = 'canvasd_memory_synced_canvases_total{outcome="changed"}'
CONFIG = {"memory": {"enabled": True}, "review": {"enabled": True, "daily_canvas": False, "timezone": "UTC"}}


def test_reviews_are_facts_of_the_learning_history(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config=CONFIG) as daemon:
        write(daemon, calculus())
        daemon.wait_for(lambda: daemon.get_json("/v1/health")["subsystems"]["memory"] == "ready", "the memory",
                        timeout=120)
        daemon.wait_for(lambda: daemon.client.get("/v1/memory/timeline", params={
            "vault": "v", "path": "calc.canvas", "node": "deriv"}).status_code == 200, "the canvas in the graph",
            timeout=60)
        three_days_ago = datetime.now(UTC) - timedelta(days=3)
        answer = daemon.client.post("/v1/review/cards/v/calc.canvas/nodes/deriv/ratings",
                                    json={"rating": "hard", "at": three_days_ago.isoformat()})
        assert answer.status_code == 200, answer.text
        doc = calculus()
        doc["nodes"][0]["color"] = GREEN  # a colour review of another node, now
        write(daemon, doc)

        def facts(**params: str) -> list[dict]:
            found = daemon.client.get("/v1/memory/search", params={"q": "reviewed struggled", "vault": "v",
                                                                   "current_only": "false", **params})
            assert found.status_code == 200, found.text
            return [f for f in found.json()["facts"] if "reviewed" in f["fact"]]

        daemon.wait_for(lambda: len(facts()) == 2, "two review facts", timeout=60)
        texts = {f["fact"] for f in facts()}
        assert texts == {"Derivatives reviewed: recalled with difficulty (struggled)", "Limits reviewed: recalled"}
        last_week = facts(since=(datetime.now(UTC) - timedelta(days=7)).isoformat(),
                          until=(datetime.now(UTC) - timedelta(days=1)).isoformat())
        assert [f["fact"] for f in last_week] == ["Derivatives reviewed: recalled with difficulty (struggled)"]
        hard = next(f for f in facts() if f["fact"].startswith("Derivatives"))
        assert datetime.fromisoformat(hard["valid_at"]).timestamp() == pytest.approx(three_days_ago.timestamp(), abs=1)
        # later syncs of the canvas (an edge added, so its facts change) keep both as history
        synced = daemon.metric(SYNCED)
        doc["edges"].append({"id": "e-ld", "fromNode": "limit", "toNode": "deriv", "label": "leads to"})
        write(daemon, doc)
        daemon.wait_for(lambda: daemon.metric(SYNCED) > synced, "the canvas synced again", timeout=60)
        assert len(facts()) == 2
