"""Agents benchmark: runs through the API of a real daemon, offline and with an LLM stand-in.

1. Per built-in agent, run latency p50 / p95 through `POST /v1/agents/{name}/runs` (wait: true) on the demo
   vault and on the real-world corpus (`../shared/corpus/canvases`, when present; copies of it get learning
   colours and a linked explanation, since few of them use colours). Durable writes, default write window.
2. A batch of `decompose` over 100 red nodes on 10 canvases (100 runs queued at once): wall time, the physical
   writes it caused (the writer coalesces runs on one canvas) and the daemon's GET p99 meanwhile — with the
   batch writer on, and off (every run its own atomic write) in the same run.
3. LLM mode against the local stand-in (tests/support/llm_server.py) streaming at 20 tokens/s: time from the
   request to the first question node on disk vs the whole run.
Prints tables, then one final line of JSON with every figure and target.

    .venv/bin/python bench/agents.py            # full run (about 3 minutes on 2 cores)
    .venv/bin/python bench/agents.py --quick    # fewer runs (about 1-2 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from report import fmt, gain, pct, target_check

from tests.support import llm_server
from tests.support.canvas_factory import obsidian
from tests.support.corpus import INVALID_CORPUS, corpus_files
from tests.support.daemon import DaemonProcess

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "vault"
RED, PURPLE, YELLOW = "1", "6", "3"
M_PHYS = "canvasd_canvas_physical_writes_total"
TARGETS: dict[str, dict[str, Any]] = {
    "offline_agent_p95_ms": {"op": "<=", "value": 500.0, "unit": "ms"},
    "batch_runs_per_physical_write": {"op": ">=", "value": 2.0, "unit": "runs"},
    "batch_get_p99_ms": {"op": "<=", "value": 50.0, "unit": "ms"},
    "llm_first_node_share_of_run": {"op": "<=", "value": 0.5, "unit": "ratio"},
}
BASE_CONFIG: dict[str, Any] = {"daemon": {"log_format": "json"}, "memory": {"enabled": False}}
TOPICS = ("entropy", "photosynthesis", "derivative", "momentum", "enzyme", "recursion", "inflation", "grammar",
          "plate tectonics", "eigenvalue")


# ------------------------------------------------------------------------------------ vaults


def prepare_corpus(folder: Path, limit: int) -> int:
    """Copies of corpus canvases with learning colours: red and purple text nodes, a yellow explanation each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    copied = 0
    for source in corpus_files():
        if source.name in INVALID_CORPUS or copied >= limit:
            continue
        try:
            doc = json.loads(source.read_text(encoding="utf-8-sig"))
        except ValueError:
            continue
        texts = [n for n in doc.get("nodes", []) if isinstance(n, dict) and n.get("type") == "text"
                 and isinstance(n.get("text"), str) and len(n["text"]) > 20 and all(
                     isinstance(n.get(k), int | float) for k in ("x", "y", "width", "height"))]
        if len(texts) < 6:
            continue
        picked = rng.sample(texts, 6)
        for node in picked[:3]:
            node["color"] = RED
        for i, node in enumerate(picked[3:]):
            node["color"] = PURPLE
            mine = {"id": f"bench-mine-{i}", "type": "text", "text": "In my words: " + node["text"][:80][::-1],
                    "x": node["x"], "y": node["y"] - 400 - i * 200, "width": 300, "height": 100, "color": YELLOW}
            doc["nodes"].append(mine)
            doc.setdefault("edges", []).append({"id": f"bench-e{i}", "fromNode": mine["id"], "toNode": node["id"]})
        (folder / source.name).write_text(json.dumps(doc, ensure_ascii=False, indent="\t"), encoding="utf-8")
        copied += 1
    return copied


def batch_vault(folder: Path) -> list[tuple[str, list[str]]]:
    """10 canvases of 10 red concept nodes each (plus a few others)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for c, topic in enumerate(TOPICS):
        nodes = [{"id": f"n{c}-{k}", "type": "text", "text": f"# {topic.title()} {k}\nWhy does **{topic}** matter "
                  f"for **case {k}**, and how does it relate to **{TOPICS[(c + k) % len(TOPICS)]}**?",
                  "x": (k % 5) * 420, "y": (k // 5) * 300, "width": 360, "height": 160, "color": RED}
                 for k in range(10)]
        name = f"batch-{c}.canvas"
        (folder / name).write_text(obsidian({"nodes": nodes, "edges": []}))
        made.append((name, [n["id"] for n in nodes]))
    return made


# ------------------------------------------------------------------------------------ measuring


def run(daemon: DaemonProcess, agent: str, path: str, nodes: list[str], **body: Any) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = daemon.client.post(f"/v1/agents/{agent}/runs", json={"vault": "v", "path": path, "nodes": nodes,
                                                                    **body}, timeout=120)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"{agent} on {path}: {answer.status_code} {answer.text[:300]}")
    return elapsed, answer.json()["run"]


def targets_of(daemon: DaemonProcess, path: str) -> dict[str, list[str]]:
    """Node ids per agent input kind: red, purple, yellow explanations, any text."""
    doc = json.loads((daemon.vault / path).read_text(encoding="utf-8-sig"))
    nodes = [n for n in doc.get("nodes", []) if isinstance(n, dict)]
    by = {"red": [n["id"] for n in nodes if n.get("color") == RED],
          "purple": [n["id"] for n in nodes if n.get("color") == PURPLE],
          "text": [n["id"] for n in nodes if n.get("type") == "text" and "canvasd" not in n]}
    linked = {e.get("fromNode") for e in doc.get("edges", []) if isinstance(e, dict)} | {
        e.get("toNode") for e in doc.get("edges", []) if isinstance(e, dict)}
    by["yellow"] = [n["id"] for n in nodes if n.get("color") == YELLOW and n["id"] in linked]
    return by


AGENT_INPUTS = {"decompose": "red", "probe": "purple", "verify": "red", "score": "yellow", "relate": "text",
                "compare": "text", "explain": "red"}


def bench_agent_latency(daemon: DaemonProcess, canvases: list[str], runs_per_agent: int) -> dict[str, Any]:
    """p50 / p95 of each agent's runs, spread over the canvases."""
    figures: dict[str, Any] = {}
    for agent, kind in AGENT_INPUTS.items():
        times: list[float] = []
        failures: list[str] = []
        for i in range(runs_per_agent):
            path = canvases[i % len(canvases)]
            ids = targets_of(daemon, path)[kind]
            if len(ids) < (2 if agent == "compare" else 1):
                continue
            pick = ids[(i // len(canvases)) % len(ids)]
            nodes = [pick, ids[(ids.index(pick) + 1) % len(ids)]] if agent == "compare" else [pick]
            elapsed, result = run(daemon, agent, path, nodes)
            times.append(elapsed)
            if result["state"] != "done":
                failures.append(str(result["error"]))
        figures[agent] = {"runs": len(times), "p50_ms": round(pct(times, 0.5) * 1000, 1),
                          "p95_ms": round(pct(times, 0.95) * 1000, 1), "failed": failures[:3]}
    return figures


def bench_batch(root: Path, batch_writer: bool) -> dict[str, Any]:
    base = root / f"batch-{'on' if batch_writer else 'off'}"
    config = {**BASE_CONFIG, "index": {"enabled": False}, "batch_writer": {"enabled": batch_writer}}
    daemon = DaemonProcess(base, config=config, test_defaults=False, label=f"batch writer {batch_writer}")
    canvases = batch_vault(daemon.vault)
    try:
        daemon.start()
        daemon.wait_background(60)
        before = daemon.metric(M_PHYS)
        gets: list[float] = []
        stop = threading.Event()

        def reader() -> None:
            import httpx

            with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), base_url="http://canvasd",
                              timeout=30) as client:
                while not stop.is_set():
                    started = time.perf_counter()
                    client.get(daemon.url("v", canvases[0][0]))
                    gets.append(time.perf_counter() - started)
                    time.sleep(0.005)

        thread = threading.Thread(target=reader)
        thread.start()
        started = time.perf_counter()
        ids = []
        for name, nodes in canvases:
            for node in nodes:
                answer = daemon.client.post("/v1/agents/decompose/runs", json={
                    "vault": "v", "path": name, "nodes": [node], "wait": False})
                ids.append(answer.json()["run"]["id"])
        daemon.wait_for(lambda: all(daemon.get_json(f"/v1/agents/runs/{i}")["run"]["state"] in ("done", "failed")
                                    for i in ids[-5:]) and _all_done(daemon, ids), "the batch", timeout=600,
                        poll=0.2)
        wall = time.perf_counter() - started
        stop.set()
        thread.join()
        runs = [daemon.get_json(f"/v1/agents/runs/{i}")["run"] for i in ids]
        physical = daemon.metric(M_PHYS) - before
        return {"runs": len(runs), "done": sum(r["state"] == "done" for r in runs), "wall_s": round(wall, 2),
                "nodes_added": sum(r["nodes_added"] for r in runs), "physical_writes": int(physical),
                "runs_per_physical_write": round(len(runs) / physical, 1) if physical else None,
                "get_p50_ms": round(pct(gets, 0.5) * 1000, 2), "get_p99_ms": round(pct(gets, 0.99) * 1000, 2),
                "gets": len(gets)}
    finally:
        daemon.close()


def _all_done(daemon: DaemonProcess, ids: list[str]) -> bool:
    runs = {r["id"]: r["state"] for r in daemon.get_json("/v1/agents/runs")["runs"]}
    return all(runs.get(i) in ("done", "failed", "cancelled") for i in ids)


def bench_llm(root: Path, repeats: int) -> dict[str, Any]:
    questions = [f"Question {k}: what would change if the {TOPICS[k]} part were missing, and why?" for k in range(5)]
    text = json.dumps({"questions": questions})
    with llm_server.serving() as server:
        server.responder = lambda body: llm_server.stream(text, chunk_chars=4, tokens_per_s=20)
        config = {**BASE_CONFIG, "index": {"enabled": False},
                  "agents": {"llm": {"url": server.url, "model": "stand-in", "timeout_s": 60}}}
        daemon = DaemonProcess(root / "llm", config=config, test_defaults=False, label="llm")
        canvases = batch_vault(daemon.vault)
        try:
            daemon.start()
            daemon.wait_background(60)
            firsts, wholes = [], []
            for k in range(repeats):
                name, nodes = canvases[k % len(canvases)]
                path = daemon.vault / name
                started = time.perf_counter()
                answer = daemon.client.post("/v1/agents/decompose/runs", json={
                    "vault": "v", "path": name, "nodes": [nodes[0]], "wait": False})
                run_id = answer.json()["run"]["id"]
                first = None
                while True:
                    if first is None and f'"run":"{run_id}"' in path.read_text().replace(" ", ""):
                        first = time.perf_counter() - started
                    state = daemon.get_json(f"/v1/agents/runs/{run_id}")["run"]["state"]
                    if state in ("done", "failed"):
                        break
                    time.sleep(0.02)
                wholes.append(time.perf_counter() - started)
                firsts.append(first if first is not None else wholes[-1])
            return {"tokens_per_s": 20, "answer_chars": len(text), "runs": repeats,
                    "first_node_s": round(pct(firsts, 0.5), 2), "whole_run_s": round(pct(wholes, 0.5), 2),
                    "first_node_share": round(pct(firsts, 0.5) / pct(wholes, 0.5), 2)}
        finally:
            daemon.close()


# ------------------------------------------------------------------------------------ report


def print_tables(result: dict[str, Any]) -> None:
    for vault, figures in result["latency"].items():
        print(f"\nagent run latency through the API ({vault}, wait: true, durable writes)")
        print(f"{'agent':<10} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8}  failed")
        for agent, f in figures.items():
            print(f"{agent:<10} {f['runs']:>5} {fmt(f['p50_ms']):>8} {fmt(f['p95_ms']):>8}  {len(f['failed'])}")
    print("\nbatch: decompose over 100 red nodes on 10 canvases, 100 runs queued at once")
    print(f"{'writer':<14} {'wall s':>7} {'runs':>5} {'phys writes':>11} {'runs/write':>10} {'GET p50':>8} "
          f"{'GET p99':>8}")
    for label, b in result["batch"].items():
        print(f"{label:<14} {fmt(b['wall_s']):>7} {b['done']:>5} {b['physical_writes']:>11} "
              f"{fmt(b['runs_per_physical_write']):>10} {fmt(b['get_p50_ms']):>8} {fmt(b['get_p99_ms']):>8}")
    llm = result["llm"]
    print(f"\nLLM stand-in at {llm['tokens_per_s']} tokens/s, {llm['answer_chars']} characters: first node on disk "
          f"{llm['first_node_s']} s, whole run {llm['whole_run_s']} s ({llm['first_node_share']} of the run)")
    print("\ntargets")
    for t in result["targets"]:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['name']}: {fmt(t['value'])} {t['unit']} (target {t['target']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per agent")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (daemon logs)")
    args = parser.parse_args(argv)
    runs_per_agent = 8 if args.quick else 30
    root = Path(tempfile.mkdtemp(prefix="canvasd-agents-"))
    result: dict[str, Any] = {"benchmark": "agents", "mode": "quick" if args.quick else "full",
                              "env": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                      "platform": platform.platform()}}
    try:
        latency: dict[str, Any] = {}
        for label, fill in (("demo", _demo), ("corpus", _corpus)):
            daemon = DaemonProcess(root / label, config={**BASE_CONFIG}, test_defaults=False, label=label)
            canvases = fill(daemon.vault)
            if not canvases:
                latency[label] = {}
                continue
            try:
                daemon.start()
                status = daemon.wait_for(lambda d=daemon: d.get_json("/v1/index/status")["state"] == "ready",
                                         "the index", timeout=600, poll=0.5)
                result.setdefault("index_ready_s", {})[label] = round(status, 1)
                latency[label] = bench_agent_latency(daemon, canvases, runs_per_agent)
            finally:
                daemon.close()
        result["latency"] = latency
        result["batch"] = {"batch writer": bench_batch(root, True), "direct writes": bench_batch(root, False)}
        result["llm"] = bench_llm(root, 3 if args.quick else 5)
        offline = [f["p95_ms"] for figures in latency.values() for a, f in figures.items() if f["runs"]]
        on = result["batch"]["batch writer"]
        result["batch_gain_physical_writes"] = gain(on["physical_writes"],
                                                    result["batch"]["direct writes"]["physical_writes"],
                                                    higher_is_better=False)
        result["targets"] = [
            target_check(TARGETS, "offline_agent_p95_ms", max(offline) if offline else None, "worst agent"),
            target_check(TARGETS, "batch_runs_per_physical_write", on["runs_per_physical_write"]),
            target_check(TARGETS, "batch_get_p99_ms", on["get_p99_ms"]),
            target_check(TARGETS, "llm_first_node_share_of_run", result["llm"]["first_node_share"]),
        ]
        print_tables(result)
        print(json.dumps(result, ensure_ascii=False))
        return 0 if all(t["pass"] for t in result["targets"]) else 1
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _demo(vault: Path) -> list[str]:
    shutil.copytree(DEMO, vault, dirs_exist_ok=True)
    return sorted(str(p.relative_to(vault)) for p in vault.rglob("*.canvas"))


def _corpus(vault: Path) -> list[str]:
    prepare_corpus(vault, 12)
    return sorted(p.name for p in vault.glob("*.canvas"))


if __name__ == "__main__":
    sys.exit(main())
