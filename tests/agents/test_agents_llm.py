"""Agents with an LLM: a real daemon talking to a local stand-in that speaks OpenAI's chat-completions protocol."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.agents.test_agents_daemon import LEARNING
from tests.support import llm_server
from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

QUESTIONS = ["What does a leaf need to make glucose?", "Where in the cell does it happen?",
             "How is light energy stored?", "Why do plants release oxygen?", "How would a plant fare in the dark?"]


def _llm_daemon(tmp_path: Path, server: llm_server.LlmServer, **sections: Any) -> Any:
    config = {"agents": {"llm": {"url": server.url, "model": "test-model", "timeout_s": 10, "retries": 1}},
              **sections}
    return running_daemon(tmp_path / "d", config=config)


def _start(daemon: DaemonProcess, agent: str, nodes: list[str], wait: bool = True) -> dict[str, Any]:
    if not (daemon.vault / "bio.canvas").exists():
        (daemon.vault / "bio.canvas").write_text(obsidian(LEARNING))
    answer = daemon.client.post(f"/v1/agents/{agent}/runs", json={"vault": "v", "path": "bio.canvas",
                                                                    "nodes": nodes, "wait": wait}, timeout=60)
    assert answer.status_code == (200 if wait else 202), answer.text
    return answer.json()["run"]


def _added(daemon: DaemonProcess) -> list[dict[str, Any]]:
    doc = json.loads((daemon.vault / "bio.canvas").read_text())
    return [n for n in doc["nodes"] if "canvasd" in n]


def test_the_first_question_is_on_the_canvas_before_the_answer_has_finished(tmp_path: Path) -> None:
    gate = threading.Event()
    text = json.dumps({"questions": QUESTIONS})
    held = text.index(QUESTIONS[1]) + len(QUESTIONS[1]) + 2  # two questions complete, then the stream waits
    with llm_server.serving(llm_server.stream(text, hold_at=held, gate=gate)) as server, \
            _llm_daemon(tmp_path, server) as daemon:
        daemon.wait_background()
        run = _start(daemon, "decompose", ["photo"], wait=False)
        daemon.wait_for(lambda: len(_added(daemon)) >= 1, "the first streamed question on disk")
        assert daemon.get_json(f"/v1/agents/runs/{run['id']}")["run"]["state"] == "running"
        early = _added(daemon)
        assert [n["text"] for n in early] == QUESTIONS[: len(early)]
        gate.set()
        daemon.wait_for(lambda: daemon.get_json(f"/v1/agents/runs/{run['id']}")["run"]["state"] == "done",
                        "the run to finish")
        final = daemon.get_json(f"/v1/agents/runs/{run['id']}")["run"]
        assert final["nodes_added"] == len(QUESTIONS) and final["result"]["llm"] is True
        assert [n["text"] for n in _added(daemon)] == QUESTIONS  # in order, none twice
        sent = server.requests[0].body
        assert sent["model"] == "test-model" and sent["stream"] is True
        assert sent["response_format"]["type"] == "json_schema"
        prompt = json.dumps(sent["messages"], ensure_ascii=False)
        assert "Photosynthesis" in prompt


def test_an_invalid_answer_is_asked_again_then_the_offline_answer_is_used(tmp_path: Path) -> None:
    with llm_server.serving(llm_server.stream("not json at all"),
                            llm_server.stream(json.dumps({"questions": "one string"}))) as server, \
            _llm_daemon(tmp_path, server) as daemon:
        daemon.wait_background()
        run = _start(daemon, "decompose", ["photo"])
        assert run["state"] == "done" and 3 <= run["nodes_added"] <= 7
        assert "offline" in run["result"]["fallback"] and len(server.requests) == 2


def test_a_valid_answer_after_a_bad_one_is_used(tmp_path: Path) -> None:
    with llm_server.serving(llm_server.json_answer("{\"questions\": [1, 2]}"),
                            llm_server.json_answer(json.dumps({"questions": QUESTIONS[:3]}))) as server, \
            _llm_daemon(tmp_path, server) as daemon:
        daemon.wait_background()
        run = _start(daemon, "decompose", ["photo"])
        assert run["state"] == "done" and [n["text"] for n in _added(daemon)] == QUESTIONS[:3]
        assert "fallback" not in run["result"]


@pytest.mark.parametrize("failure", [llm_server.error(500, "boom"), llm_server.cut('{"questions": ["a', after=8)])
def test_an_llm_that_fails_fails_the_run_with_its_url_and_the_daemon_stays_up(
        tmp_path: Path, failure: llm_server.Answer) -> None:
    with llm_server.serving() as server, _llm_daemon(tmp_path, server) as daemon:
        server.responder = lambda body: failure
        daemon.wait_background()
        run = _start(daemon, "decompose", ["photo"])
        assert run["state"] == "failed" and server.url in run["error"]
        assert _added(daemon) == [] and json.loads((daemon.vault / "bio.canvas").read_text()) == LEARNING
        assert daemon.get_json("/v1/health")["status"] == "ok"


def test_an_unreachable_llm_fails_the_run_naming_the_url(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    config = {"agents": {"llm": {"url": url, "model": "m", "timeout_s": 5, "retries": 0}}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        daemon.wait_background()
        run = _start(daemon, "decompose", ["photo"])
        assert run["state"] == "failed" and url in run["error"] and "unreachable" in run["error"]


def test_a_queued_and_a_running_run_can_be_cancelled(tmp_path: Path) -> None:
    with llm_server.serving(llm_server.hang()) as server, \
            _llm_daemon(tmp_path, server, jobs={"max_concurrency": 1}) as daemon:
        daemon.wait_background()
        # one scheduler slot: the first run holds it while the LLM hangs, the second waits behind it
        first = _start(daemon, "decompose", ["photo"], wait=False)
        server.wait_requests(1, timeout=30)
        second = _start(daemon, "decompose", ["zh"], wait=False)
        assert daemon.get_json(f"/v1/agents/runs/{second['id']}")["run"]["state"] == "queued"
        cancelled = daemon.client.delete(f"/v1/agents/runs/{second['id']}").json()["run"]
        assert cancelled["state"] == "cancelled"
        daemon.client.delete(f"/v1/agents/runs/{first['id']}")
        daemon.wait_for(lambda: daemon.get_json(f"/v1/agents/runs/{first['id']}")["run"]["state"] == "cancelled",
                        "the running run to be cancelled")
        assert _added(daemon) == [] and len(server.requests) == 1


def test_explain_with_an_llm_adds_one_explanation(tmp_path: Path) -> None:
    with llm_server.serving() as server, _llm_daemon(tmp_path, server) as daemon:
        def answer(body: Any) -> llm_server.Answer:
            schema = body["response_format"]["json_schema"]["schema"]
            fields = {key: "Plants are solar-powered kitchens." for key, sub in schema["properties"].items()
                      if sub.get("type") == "string"}
            return llm_server.json_answer(json.dumps(fields))

        server.responder = answer
        daemon.wait_background()
        run = _start(daemon, "explain", ["photo"])
        assert run["state"] == "done" and run["nodes_added"] == 1, run
        assert "solar-powered" in _added(daemon)[0]["text"]


def test_a_run_whose_canvas_broke_while_it_waited_fails_naming_the_vault_path(tmp_path: Path) -> None:
    with llm_server.serving(llm_server.hang()) as server, \
            _llm_daemon(tmp_path, server, jobs={"max_concurrency": 1}) as daemon:
        daemon.wait_background()
        first = _start(daemon, "decompose", ["photo"], wait=False)  # holds the only slot while the LLM hangs
        server.wait_requests(1, timeout=30)
        (daemon.vault / "other.canvas").write_text(obsidian(LEARNING))
        queued = daemon.client.post("/v1/agents/verify/runs", json={
            "vault": "v", "path": "other.canvas", "nodes": ["photo"], "wait": False}).json()["run"]
        (daemon.vault / "other.canvas").write_text('{"nodes": [')  # broken on disk while the run waits
        daemon.client.delete(f"/v1/agents/runs/{first['id']}")
        daemon.wait_for(lambda: daemon.get_json(f"/v1/agents/runs/{queued['id']}")["run"]["state"] == "failed",
                        "the queued run to fail")
        error = daemon.get_json(f"/v1/agents/runs/{queued['id']}")["run"]["error"]
        assert "'other.canvas'" in error and str(daemon.vault) not in error
