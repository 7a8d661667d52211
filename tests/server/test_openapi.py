"""/openapi.json tells the truth: it lists exactly the app's routes, and a fuzzer finds no 5xx or
response that breaks it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from canvasd.server.app import routes
from canvasd.server.openapi import openapi_document
from tests.support.corpus import ROOT
from tests.support.daemon import running_daemon

_STARLETTE_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def test_the_document_lists_exactly_the_routes() -> None:
    documented = {(path, method.upper()) for path, item in openapi_document()["paths"].items()
                  for method in item if method != "parameters"}
    served = {(_STARLETTE_PARAM.sub(r"{\1}", route.path), method)
              for route in routes() for method in (route.methods or ()) if method != "HEAD"}
    assert documented == served


def test_the_served_document_is_openapi_3_1(daemon) -> None:
    doc = daemon.client.get("/openapi.json").json()
    assert doc == openapi_document() and doc["openapi"] == "3.1.0"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    port = _free_port()
    config = {"http": {"tcp_port": port}, "index": {"enabled": True}, "memory": {"enabled": True},
              "review": {"enabled": True}, "embedding": {"provider": "none"}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        for canvas in (ROOT / "demo" / "vault").rglob("*.canvas"):
            target = daemon.vault / canvas.relative_to(ROOT / "demo" / "vault")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(canvas.read_bytes())
        (daemon.vault / "a.canvas").write_text('{"nodes":[],"edges":[]}')
        token = (daemon.data / "canvasd" / "token").read_text().strip()
        st = Path(sys.executable).with_name("schemathesis")
        run = subprocess.run(
            [str(st), "run", f"http://127.0.0.1:{port}/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--exclude-path", "/v1/events",  # an endless stream; tests/test_events_api.py covers it
             "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
             "response_schema_conformance,response_headers_conformance",
             "--max-examples", "30", "--workers", "1", "--seed", "1", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        text = daemon.client.get("/metrics").text
        answered = [line for line in text.splitlines() if line.startswith("canvasd_http_requests_total{")]
        total = sum(float(line.rsplit(" ", 1)[1]) for line in answered)
        server_errors = [line for line in answered if 'status="5' in line]
        assert total >= 500, f"schemathesis sent only {total:.0f} requests"
        assert server_errors == []
        assert daemon.client.get("/v1/health").json()["status"] == "ok"
