"""The HTTP API of a real daemon subprocess: canvases, preconditions, errors, limits and path attacks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

DOC = {"nodes": [{"id": "a", "type": "text", "text": "极限 limit", "x": 0, "y": 0, "width": 200, "height": 60,
                  "color": "1"}],
       "edges": []}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    return body["error"]


def test_health_and_vaults(daemon: DaemonProcess) -> None:
    health = daemon.client.get("/v1/health").json()
    assert health["status"] == "ok" and health["pid"] == daemon.proc.pid
    assert health["socket"] == str(daemon.socket) and health["vaults"] == 1
    vaults = daemon.client.get("/v1/vaults").json()["vaults"]
    assert vaults == [{"name": "v", "root": str(daemon.vault), "exists": True}]


def test_get_serves_the_exact_bytes_with_an_etag_and_304(daemon: DaemonProcess) -> None:
    raw = obsidian(DOC).encode()
    (daemon.vault / "数学").mkdir()
    (daemon.vault / "数学" / "极限.canvas").write_bytes(raw)
    url = daemon.url("v", "数学/极限.canvas")
    first = daemon.client.get(url)
    assert first.status_code == 200 and first.content == raw
    assert first.headers["content-type"].startswith("application/json")
    tag = first.headers["etag"]
    assert tag.startswith('"') and len(tag) == 34
    again = daemon.client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert daemon.client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_put_creates_then_updates_and_if_match_guards(daemon: DaemonProcess) -> None:
    url = daemon.url("v", "notes/new.canvas")  # its folder is created too
    created = daemon.client.put(url, json=DOC)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["created"] and body["written"] and created.headers["etag"] == f'"{body["version"]}"'
    on_disk = (daemon.vault / "notes" / "new.canvas").read_bytes()
    assert json.loads(on_disk) == DOC
    assert daemon.client.get(url).headers["etag"] == created.headers["etag"]

    changed = {**DOC, "nodes": [{**DOC["nodes"][0], "color": "4"}]}
    updated = daemon.client.put(url, json=changed, headers={"If-Match": created.headers["etag"]})
    assert updated.status_code == 200 and not updated.json()["created"]
    stale = daemon.client.put(url, json=DOC, headers={"If-Match": created.headers["etag"]})
    assert stale.status_code == 412
    error = _error(stale)
    assert error["code"] == "version_conflict" and error["details"]["actual"] == updated.json()["version"]
    assert json.loads((daemon.vault / "notes" / "new.canvas").read_bytes()) == changed


def test_patch_applies_ops_and_keeps_the_rest_byte_for_byte(daemon: DaemonProcess) -> None:
    doc = {"nodes": [dict(DOC["nodes"][0]), {"id": "b", "type": "text", "text": "keep 保留", "x": 300, "y": 0,
                                             "width": 200, "height": 60}], "edges": []}
    path = daemon.vault / "p.canvas"
    path.write_text(obsidian(doc))
    before = path.read_text()
    response = daemon.client.patch(daemon.url("v", "p.canvas"),
                                   json={"ops": [{"op": "update_node", "id": "a", "set": {"color": "4"}}]})
    assert response.status_code == 200, response.text
    after = path.read_text()
    assert json.loads(after)["nodes"][0]["color"] == "4"
    assert after.splitlines()[3] == before.splitlines()[3]  # the untouched node's line is the same bytes
    bad = daemon.client.patch(daemon.url("v", "p.canvas"), json={"ops": [{"op": "explode"}]})
    assert bad.status_code == 422 and _error(bad)["code"] == "op_invalid"
    missing = daemon.client.patch(daemon.url("v", "p.canvas"),
                                  json={"ops": [{"op": "update_node", "id": "zz", "set": {"x": 1}}]})
    assert missing.status_code == 422
    assert path.read_text() == after  # refused requests wrote nothing


def test_no_wait_writes_answer_202_and_land_after_flush(daemon: DaemonProcess) -> None:
    url = daemon.url("v", "later.canvas")
    accepted = daemon.client.put(url + "?wait=false", json=DOC)
    assert accepted.status_code == 202 and accepted.json()["status"] == "accepted"
    assert daemon.client.post("/v1/flush").json() == {"flushed": True}
    assert json.loads((daemon.vault / "later.canvas").read_bytes()) == DOC
    gone = daemon.client.delete(url + "?wait=false")
    assert gone.status_code == 202
    daemon.client.post("/v1/flush")
    assert not (daemon.vault / "later.canvas").exists()


def test_delete_and_missing_canvas(daemon: DaemonProcess) -> None:
    (daemon.vault / "d.canvas").write_text(obsidian(DOC))
    url = daemon.url("v", "d.canvas")
    assert daemon.client.delete(url).json() == {"vault": "v", "path": "d.canvas", "deleted": True}
    assert not (daemon.vault / "d.canvas").exists()
    for response in (daemon.client.get(url), daemon.client.delete(url),
                     daemon.client.patch(url, json={"ops": [{"op": "remove_node", "id": "a"}]})):
        error = _error(response)
        assert response.status_code == 404 and error["code"] == "canvas_not_found"
        # errors name the canvas as the client did, never by where the vault lives on disk
        assert error["details"]["path"] == "d.canvas" and str(daemon.vault) not in error["message"]


def test_listing_counts_nodes_and_reports_malformed_files(daemon: DaemonProcess) -> None:
    (daemon.vault / "sub").mkdir()
    (daemon.vault / "sub" / "ok.canvas").write_text(obsidian(DOC))
    (daemon.vault / "broken.canvas").write_text('{"nodes": [1,]}')
    (daemon.vault / ".obsidian").mkdir()
    (daemon.vault / ".obsidian" / "hidden.canvas").write_text(obsidian(DOC))
    (daemon.vault / "note.md").write_text("# not a canvas")
    rows = {row["path"]: row for row in daemon.client.get("/v1/vaults/v/canvases").json()["canvases"]}
    assert set(rows) == {"sub/ok.canvas", "broken.canvas"}
    assert rows["sub/ok.canvas"]["nodes"] == 1 and rows["sub/ok.canvas"]["edges"] == 0
    assert rows["broken.canvas"]["nodes"] is None and "line 1" in rows["broken.canvas"]["error"]
    got = daemon.client.get(daemon.url("v", "broken.canvas"))
    assert got.status_code == 422 and _error(got)["details"]["line"] == 1


def test_listing_and_job_errors_name_canvases_by_their_vault_path(tmp_path: Path) -> None:
    config = {"index": {"enabled": True}, "embedding": {"provider": "none"}}  # its sync jobs read every canvas
    daemon = DaemonProcess(tmp_path / "d", config=config)
    try:
        (daemon.vault / "sub").mkdir()
        (daemon.vault / "sub" / "broken.canvas").write_text('{"nodes": [1,]}')
        daemon.start()
        roots = (str(daemon.vault), os.path.realpath(daemon.vault))
        rows = daemon.get_json("/v1/vaults/v/canvases")["canvases"]
        assert [row["path"] for row in rows] == ["sub/broken.canvas"]
        assert "canvas 'sub/broken.canvas' is not valid JSON" in rows[0]["error"]
        assert not any(root in rows[0]["error"] for root in roots), rows[0]["error"]

        def failed_jobs() -> list[str]:
            return [job["error"] for job in daemon.get_json("/v1/jobs")["recent"] if job["state"] == "failed"]

        daemon.wait_for(lambda: bool(failed_jobs()), "the index's sync of the broken canvas to fail")
        for error in failed_jobs():
            assert "'sub/broken.canvas'" in error and not any(root in error for root in roots), error
    finally:
        daemon.close()


def test_a_canvas_with_a_bom_is_taken_back_as_it_was_served(daemon: DaemonProcess) -> None:
    raw = "\ufeff".encode() + obsidian(DOC).encode()
    path = daemon.vault / "bom.canvas"
    path.write_bytes(raw)
    url = daemon.url("v", "bom.canvas")
    got = daemon.client.get(url)
    assert got.status_code == 200 and got.content == raw  # served with its BOM, byte for byte
    headers = {"content-type": "application/json", "If-Match": got.headers["etag"]}
    same = daemon.client.put(url, content=got.content, headers=headers)
    assert same.status_code == 200, same.text
    assert not same.json()["written"] and path.read_bytes() == raw  # nothing changed, nothing written
    recoloured = got.content.replace(b'"color":"1"', b'"color":"4"')
    assert recoloured != got.content
    changed = daemon.client.put(url, content=recoloured, headers={**headers, "If-Match": same.headers["etag"]})
    assert changed.status_code == 200 and changed.json()["written"], changed.text
    assert path.read_bytes() == recoloured  # the file keeps its BOM and its layout
    patch = "\ufeff".encode() + json.dumps({"ops": [{"op": "update_node", "id": "a", "set": {"color": "1"}}]}).encode()
    patched = daemon.client.patch(url, content=patch, headers={"content-type": "application/json"})
    assert patched.status_code == 200, patched.text
    assert path.read_bytes() == raw


def test_bad_bodies_get_clear_errors_and_write_nothing(daemon: DaemonProcess) -> None:
    url = daemon.url("v", "b.canvas")
    cases = [
        (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "body_invalid_json"),
        (dict(content=b"[1, 2]", headers={"content-type": "application/json"}), 400, "body_not_canvas"),
        (dict(content=b"", headers={"content-type": "application/json"}), 400, "body_missing"),
        (dict(content=b"nodes=1", headers={"content-type": "application/x-www-form-urlencoded"}), 415,
         "unsupported_media_type"),
        (dict(json={"nodes": [{"id": "x", "type": "text"}]}), 422, "validation_failed"),
        (dict(json=DOC, params={"wait": "maybe"}), 400, "bad_parameter"),
    ]
    for kwargs, status, code in cases:
        response = daemon.client.put(url, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert _error(response)["code"] == code
    assert not (daemon.vault / "b.canvas").exists()
    patch = daemon.client.patch(url, json={"ops": [], "extra": 1})
    assert patch.status_code == 400


def test_oversized_bodies_get_413(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config={"http": {"max_body_bytes": 4096}}) as daemon:
        big = {"nodes": [{"id": str(i), "type": "text", "text": "x" * 100, "x": 0, "y": 0, "width": 1, "height": 1}
                         for i in range(100)]}
        response = daemon.client.put(daemon.url("v", "big.canvas"), json=big)
        assert response.status_code == 413 and _error(response)["details"]["limit"] == 4096

        def chunks():  # no Content-Length: the limit holds for streamed bodies too
            for _ in range(10):
                yield b" " * 1000

        streamed = daemon.client.put(daemon.url("v", "big.canvas"), content=chunks(),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert not (daemon.vault / "big.canvas").exists()
        assert daemon.client.get("/v1/health").status_code == 200


@pytest.mark.parametrize(("path", "status", "code"), [
    ("%2E%2E/outside.canvas", 403, "path_refused"),  # httpx would normalise a literal '..' away
    ("a/%2E%2E/%2E%2E/outside.canvas", 403, "path_refused"),
    ("%2Fetc%2Fpasswd.canvas", 400, "path_invalid"),
    ("a%00b.canvas", 400, "path_invalid"),
    ("a%5Cb.canvas", 400, "path_invalid"),
    (".obsidian/workspace.canvas", 403, "path_refused"),
    ("notes.md", 403, "path_refused"),
    ("link-out.canvas", 403, "path_refused"),
    ("link-md.canvas", 403, "path_refused"),
])
def test_path_attacks_are_refused(daemon: DaemonProcess, path: str, status: int, code: str) -> None:
    outside = daemon.base / "outside.canvas"
    outside.write_text(obsidian(DOC))
    secret = daemon.base / "secret.md"
    secret.write_text("secret")
    os.symlink(outside, daemon.vault / "link-out.canvas")
    os.symlink(secret, daemon.vault / "link-md.canvas")
    before = outside.read_bytes()
    url = f"/v1/vaults/v/canvases/{path}"
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        body = {"ops": []} if method == "PATCH" else DOC
        response = daemon.client.request(method, url, json=body if method in ("PUT", "PATCH") else None)
        assert response.status_code == status, (method, path, response.text)
        assert _error(response)["code"] == code
    assert outside.read_bytes() == before and secret.read_text() == "secret"
    assert not (daemon.vault / ".obsidian").exists()


def test_a_literal_dot_dot_on_the_wire_is_refused(daemon: DaemonProcess) -> None:
    import socket

    (daemon.base / "outside.canvas").write_text(obsidian(DOC))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(daemon.socket))
        raw.sendall(b"GET /v1/vaults/v/canvases/../../outside.canvas HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403") and json.loads(body)["error"]["code"] == "path_refused"


def test_unknown_vault_route_and_method(daemon: DaemonProcess) -> None:
    response = daemon.client.get("/v1/vaults/nope/canvases")
    assert response.status_code == 404 and _error(response)["details"]["known"] == ["v"]
    assert _error(daemon.client.get("/v2/whatever"))["code"] == "not_found"
    wrong = daemon.client.post("/v1/health")
    assert wrong.status_code == 405 and _error(wrong)["code"] == "method_not_allowed"


def test_metrics_summary_and_alerts(daemon: DaemonProcess) -> None:
    (daemon.vault / "m.canvas").write_text(obsidian(DOC))
    for _ in range(30):
        assert daemon.client.get(daemon.url("v", "m.canvas")).status_code == 200
    text = daemon.client.get("/metrics").text
    route = "/v1/vaults/{vault}/canvases/{path:path}"
    assert f'canvasd_http_requests_total{{method="GET",route="{route}",status="200"}} 30.0' in text
    assert "process_resident_memory_bytes" in text
    summary = daemon.client.get("/v1/metrics/summary").json()
    assert summary["requests"]["total"] >= 31 and summary["requests"]["latency_ms"]["p50"] > 0
    assert summary["cache"]["hits"] >= 29 and summary["cache"]["hit_rate"] > 0.9
    assert summary["optimizations"]["read_cache"]["enabled"] is True
    alerts = daemon.client.get("/v1/metrics/alerts").json()
    assert alerts["alerts"] == [] and alerts["thresholds"]["latency_p95_ms"] == 500


def test_alerts_fire_on_their_configured_thresholds(tmp_path: Path) -> None:
    config = {"alerts": {"latency_p95_ms": 0.000001, "min_requests": 5, "cache_hit_rate": 1.0, "job_p95_s": 1e-9},
              "jobs": {"metrics_snapshot_interval_s": 0.05}}  # a job every 50 ms
    with running_daemon(tmp_path / "d", config=config) as daemon:
        (daemon.vault / "m.canvas").write_text(obsidian(DOC))
        for _ in range(10):
            daemon.client.get(daemon.url("v", "m.canvas"))
        (daemon.vault / "n.canvas").write_text(obsidian(DOC))
        for _ in range(10):
            daemon.client.get(daemon.url("v", "n.canvas"))
            (daemon.vault / "n.canvas").touch()
        daemon.wait_for(lambda: len(daemon.get_json("/v1/jobs")["recent"]) >= 5, "five finished jobs")
        names = {a["name"] for a in daemon.client.get("/v1/metrics/alerts").json()["alerts"]}
        assert {"latency_p95", "cache_hit_rate", "job_p95"} <= names


def test_metrics_pass_promtool(daemon: DaemonProcess) -> None:
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package 'prometheus'; .ci/run installs it)")
    daemon.client.get("/v1/health")
    text = daemon.client.get("/metrics").content
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
