"""Agents under load: many runs on canvases another program rewrites in place, and under CPU pressure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.agents.test_agents_daemon import RED, _boxes_disjoint, _node
from tests.support.canvas_factory import obsidian
from tests.support.daemon import running_daemon

WRITER = Path(__file__).parents[1] / "support" / "inplace_writer.py"


def _canvas(index: int) -> dict:
    return {"nodes": [_node(f"c{index}-{k}", f"# Topic {index}.{k}\nWhy does **entropy** grow in **closed systems**?",
                            k * 500, 0, RED) for k in range(4)], "edges": []}


def test_twenty_runs_on_five_canvases_rewritten_in_place_lose_no_edit_on_either_side(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d") as daemon:
        paths = []
        for index in range(5):
            path = daemon.vault / f"c{index}.canvas"
            path.write_text(obsidian(_canvas(index)))
            paths.append(path)
        daemon.wait_background()
        stop = tmp_path / "stop"
        writer = subprocess.Popen([sys.executable, str(WRITER), str(stop), *map(str, paths)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            runs = []
            for round_ in range(4):
                for index in range(5):
                    answer = daemon.client.post("/v1/agents/decompose/runs", json={
                        "vault": "v", "path": f"c{index}.canvas", "nodes": [f"c{index}-{round_}"], "wait": False})
                    assert answer.status_code == 202, answer.text
                    runs.append(answer.json()["run"]["id"])
            daemon.wait_for(lambda: all(daemon.get_json(f"/v1/agents/runs/{r}")["run"]["state"] == "done"
                                        for r in runs), "20 agent runs to finish", timeout=120)
        finally:
            stop.touch()
            out, _ = writer.communicate(timeout=60)
        external = {line.split()[1] for line in out.splitlines() if line.startswith("ext ")}
        assert len(external) >= 5
        finished = [daemon.get_json(f"/v1/agents/runs/{r}")["run"] for r in runs]
        docs = {f"c{i}.canvas": json.loads(p.read_text()) for i, p in enumerate(paths)}
        ids = {n["id"] for doc in docs.values() for n in doc["nodes"]}
        assert external <= ids, f"external edits lost: {sorted(external - ids)[:5]}"
        for run in finished:
            added = [op["node"]["id"] for op in run["ops"] if op["op"] == "add_node"]
            assert len(added) == run["nodes_added"] >= 3
            assert set(added) <= ids, f"run {run['id']} lost nodes"
        for name, doc in docs.items():
            assert not _boxes_disjoint(doc), name
            assert all(f"c{name[1]}-{k}" in ids for k in range(4))


def test_under_injected_pressure_the_limit_halves_and_the_runs_still_finish(tmp_path: Path) -> None:
    # Any CPU use at all counts as pressure here: the limit must drop to its floor and the runs still finish.
    config = {"jobs": {"max_concurrency": 2, "min_concurrency": 1, "cpu_high_percent": 0.001,
                       "memory_high_percent": 0.001, "sample_interval_s": 0.05}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        (daemon.vault / "c.canvas").write_text(obsidian(_canvas(0)))
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/jobs")["limit"] == 1, "the job limit to halve")
        answer = daemon.client.post("/v1/agents/decompose/runs", json={
            "vault": "v", "path": "c.canvas", "state": "not_understood"}, timeout=60)
        assert answer.status_code == 200 and answer.json()["run"]["state"] == "done"
        assert answer.json()["run"]["nodes_added"] >= 12
        assert daemon.get_json("/v1/jobs")["limit"] == 1
