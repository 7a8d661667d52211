"""Hostile input against a real daemon: names the file system cannot hold, paths it cannot follow, bodies nested
too deep, canvases on disk nested too deep, clients that hang up mid-body, FIFOs and sockets named *.canvas, and
more connections than the open-file limit allows. Each gets a clear 4xx (or a clean refusal), is not logged as an
unexpected error, changes no file, and leaves the daemon serving."""

from __future__ import annotations

import json
import os
import resource
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from canvasd.canvas.layout import MAX_DEPTH
from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

NODE = {"id": "a", "type": "text", "text": "极限 limit", "x": 0, "y": 0, "width": 200, "height": 60}
DOC = {"nodes": [NODE], "edges": []}
PATCH = {"ops": [{"op": "update_node", "id": "a", "set": {"color": "4"}}]}
UNEXPECTED = ("unexpected error", "Exception in ASGI application", "Traceback", "Too many open files")


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    error: dict[str, Any] = body["error"]
    return error


def _body(method: str) -> dict[str, Any] | None:
    return DOC if method == "PUT" else PATCH if method == "PATCH" else None


def _nested(depth: int) -> str:
    """JSON text of `depth` arrays, one inside the other."""
    return "[" * depth + "]" * depth


def _deep_canvas(depth: int) -> str:
    """A canvas whose one node carries a field nested `depth` levels deep (the file is 3 levels more)."""
    return ('{"nodes":[{"id":"a","type":"text","text":"t","x":0,"y":0,"width":1,"height":1,"extra":'
            + _nested(depth) + '}],"edges":[]}')


def _files(folder: Path) -> dict[str, bytes | str]:
    """Everything under `folder`: file bytes, or the kind of anything else (so a FIFO stays a FIFO)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        st = os.lstat(path)
        key = str(path.relative_to(folder))
        if stat.S_ISREG(st.st_mode):
            found[key] = path.read_bytes()
        else:
            found[key] = stat.filemode(st.st_mode)[0] + (os.readlink(path) if stat.S_ISLNK(st.st_mode) else "")
    return found


def _assert_clean_log(daemon: DaemonProcess) -> None:
    log = daemon.log()
    for marker in UNEXPECTED:
        assert marker not in log, f"{marker!r} in the daemon log:\n{daemon.log_tail(60)}"


def _no_server_errors(daemon: DaemonProcess) -> None:
    text = daemon.client.get("/metrics").text
    served = [line for line in text.splitlines() if line.startswith("canvasd_http_requests_total{")]
    assert not [line for line in served if 'status="5' in line], served
    assert daemon.metric("canvasd_optimization_fallbacks_total") == 0


# ------------------------------------------------------------------------------- 1. names and paths


def test_a_file_name_longer_than_the_file_system_allows_is_a_400_naming_the_limit(daemon: DaemonProcess) -> None:
    name_max = os.pathconf(daemon.vault, "PC_NAME_MAX")
    too_long = "é" * ((name_max - len(".canvas")) // 2 + 1) + ".canvas"  # few characters, too many bytes
    size = len(too_long.encode())
    assert size > name_max
    for name in (too_long, "a" * 300 + ".canvas", f"folder/{'b' * (name_max + 1)}/x.canvas"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = daemon.client.request(method, daemon.url("v", name), json=_body(method))
            assert response.status_code == 400, (method, response.text)
            error = _error(response)
            assert error["code"] == "path_invalid" and f"the file system allows {name_max}" in error["message"]
    assert f"a path segment is {size} bytes" in _error(daemon.client.get(daemon.url("v", too_long)))["message"]
    # a name of exactly NAME_MAX bytes is served and written (its temp file's name is cut to fit)
    longest = "c" * (name_max - len(".canvas")) + ".canvas"
    assert daemon.client.put(daemon.url("v", longest), json=DOC).status_code == 201
    assert daemon.client.patch(daemon.url("v", longest), json=PATCH).status_code == 200
    assert json.loads(daemon.client.get(daemon.url("v", longest)).content)["nodes"][0]["color"] == "4"
    assert sorted(_files(daemon.vault)) == [longest]
    listed = daemon.client.get("/v1/vaults/v/canvases").json()["canvases"]
    assert [row["path"] for row in listed] == [longest]
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


def test_a_whole_path_longer_than_the_file_system_allows_is_a_400(daemon: DaemonProcess) -> None:
    path_max = os.pathconf(daemon.vault, "PC_PATH_MAX")
    segment = "d" * 200
    deep = "/".join([segment] * (path_max // 200 + 1)) + "/x.canvas"  # every segment fits, the whole does not
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = daemon.client.request(method, daemon.url("v", deep), json=_body(method))
        assert response.status_code == 400, (method, response.text)
        assert _error(response)["code"] == "path_invalid" and "full path" in _error(response)["message"]
    assert _files(daemon.vault) == {}  # not even the folders were made
    assert daemon.client.get("/v1/health").status_code == 200
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


def _unfollowable(vault: Path) -> None:
    (vault / "file.canvas").write_text(obsidian(DOC))
    os.symlink("loop.canvas", vault / "loop.canvas")  # a symlink to itself: ELOOP
    os.symlink("ping", vault / "pong")  # two symlinks that point at each other, used as a folder
    os.symlink("pong", vault / "ping")
    os.symlink("file.canvas", vault / "filelink")  # a symlink to a file, used as a folder: ENOTDIR


@pytest.mark.parametrize("path", ["loop.canvas", "pong/x.canvas", "file.canvas/x.canvas", "filelink/x.canvas"])
def test_paths_the_file_system_cannot_follow_are_refused(daemon: DaemonProcess, path: str) -> None:
    _unfollowable(daemon.vault)
    before = _files(daemon.vault)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = daemon.client.request(method, daemon.url("v", path), json=_body(method))
        assert response.status_code == 403, (method, path, response.text)
        error = _error(response)
        assert error["code"] == "path_refused" and error["details"]["path"] == path
        assert str(daemon.vault) not in error["message"]  # named as the client named it
    assert _files(daemon.vault) == before
    listed = daemon.client.get("/v1/vaults/v/canvases")
    assert listed.status_code == 200 and [row["path"] for row in listed.json()["canvases"]] == ["file.canvas"]
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


@pytest.mark.skipif(os.geteuid() == 0, reason="root enters every folder: no EACCES to provoke")
def test_a_folder_that_cannot_be_entered_is_refused(daemon: DaemonProcess) -> None:
    locked = daemon.vault / "locked"
    locked.mkdir()
    (locked / "in.canvas").write_text(obsidian(DOC))
    locked.chmod(0)
    try:
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = daemon.client.request(method, daemon.url("v", "locked/in.canvas"), json=_body(method))
            assert response.status_code == 403 and _error(response)["code"] == "path_refused", response.text
        assert daemon.client.get("/v1/vaults/v/canvases").json()["canvases"] == []
    finally:
        locked.chmod(0o700)
    assert json.loads((locked / "in.canvas").read_text()) == DOC
    _assert_clean_log(daemon)


def test_file_names_that_are_not_utf8_are_skipped_not_fatal(daemon: DaemonProcess) -> None:
    from tests.support.daemon import EventStream

    stream = EventStream(daemon)
    try:
        (daemon.vault / "ok.canvas").write_text(obsidian(DOC))
        with open(os.fsencode(daemon.vault) + b"/\xff.canvas", "w") as f:  # bytes no URL or JSON can carry
            f.write(obsidian(DOC))
        (daemon.vault / "after.canvas").write_text(obsidian(DOC))
        seen = {stream.until(lambda e: e["path"] == "after.canvas")["path"]}
        listed = daemon.client.get("/v1/vaults/v/canvases")
        assert listed.status_code == 200
        assert sorted(row["path"] for row in listed.json()["canvases"]) == ["after.canvas", "ok.canvas"]
        assert seen == {"after.canvas"}  # the stream survived the name it cannot carry
    finally:
        stream.close()
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


# ------------------------------------------------------------------------------- 2. nesting


def test_bodies_nested_too_deep_are_refused_before_anything_is_queued(daemon: DaemonProcess) -> None:
    (daemon.vault / "d.canvas").write_text(obsidian(DOC))
    before = (daemon.vault / "d.canvas").read_bytes()
    url = daemon.url("v", "d.canvas")
    headers = {"content-type": "application/json"}
    for depth in (MAX_DEPTH, 2000, 100_000):  # over the limit, over orjson's, over every recursive parser's
        put = daemon.client.put(url, content=_deep_canvas(depth), headers=headers)
        patch = daemon.client.patch(url, headers=headers, content='{"ops":[{"op":"update_node","id":"a","set":'
                                    '{"extra":' + _nested(depth) + "}}]}")
        for response in (put, patch):
            assert response.status_code == 400, response.text
            error = _error(response)
            assert error["code"] == "body_too_deep" and error["details"] == {"limit": MAX_DEPTH}
    assert (daemon.vault / "d.canvas").read_bytes() == before
    assert daemon.metric("canvasd_canvas_write_requests_total") == 0  # nothing was queued
    # content nested deeply but within the limit is written and read back exactly
    nested = json.loads(_nested(MAX_DEPTH - 10))
    assert daemon.client.patch(url, json={"ops": [{"op": "update_node", "id": "a", "set": {"extra": nested}}]}
                               ).status_code == 200
    assert json.loads((daemon.vault / "d.canvas").read_bytes())["nodes"][0]["extra"] == nested
    assert daemon.client.put(daemon.url("v", "e.canvas"), content=_deep_canvas(MAX_DEPTH - 10),
                             headers=headers).status_code == 201
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


def test_canvases_on_disk_nested_deeply_are_served_or_refused_clearly(daemon: DaemonProcess) -> None:
    medium = _deep_canvas(1200)  # beyond orjson's 1024 levels: the plain parser reads it
    deepest = _deep_canvas(20_000)  # beyond every parser
    (daemon.vault / "medium.canvas").write_text(medium)
    (daemon.vault / "deepest.canvas").write_text(deepest)

    got = daemon.client.get(daemon.url("v", "medium.canvas"))
    assert got.status_code == 200 and got.content == medium.encode()
    changed = daemon.client.patch(daemon.url("v", "medium.canvas"), json=PATCH)
    assert changed.status_code == 200, changed.text
    after = (daemon.vault / "medium.canvas").read_text()
    assert _nested(1200) in after and json.loads(after)["nodes"][0]["color"] == "4"  # the deep field kept its text

    refused = daemon.client.get(daemon.url("v", "deepest.canvas"))
    assert refused.status_code == 422, refused.text
    error = _error(refused)
    assert error["code"] == "canvas_too_deep" and error["details"]["limit"] == MAX_DEPTH
    assert error["details"]["line"] == 1 and error["details"]["path"] == "deepest.canvas"
    for method in ("PATCH", "DELETE"):  # the writer reads it for the commit: refused, the thread unharmed
        response = daemon.client.request(method, daemon.url("v", "deepest.canvas"), json=_body(method))
        assert response.status_code == 422 and _error(response)["code"] == "canvas_too_deep", response.text
    assert (daemon.vault / "deepest.canvas").read_text() == deepest
    rows = {row["path"]: row for row in daemon.client.get("/v1/vaults/v/canvases").json()["canvases"]}
    assert rows["medium.canvas"]["nodes"] == 1
    assert "more than 512 levels" in rows["deepest.canvas"]["error"]
    assert str(daemon.vault) not in rows["deepest.canvas"]["error"]
    # a caller who saw its version may still replace it, like any file that does not parse
    replaced = daemon.client.put(daemon.url("v", "deepest.canvas"), json=DOC,
                                 headers={"If-Match": '"' + _version_of(deepest) + '"'})
    assert replaced.status_code in (200, 201), replaced.text  # (a file that does not parse counts as no canvas)
    assert daemon.client.patch(daemon.url("v", "deepest.canvas"), json=PATCH).status_code == 200
    served = [line for line in daemon.client.get("/metrics").text.splitlines()
              if line.startswith("canvasd_http_requests_total{") and 'status="5' in line]
    assert served == []
    assert daemon.metric('canvasd_optimization_fallbacks_total{optimization="batch_writer"}') == 0
    _assert_clean_log(daemon)


def _version_of(text: str) -> str:
    from canvasd.canvas.store import content_version

    return content_version(text.encode())


# ------------------------------------------------------------------------------- 3. clients that hang up


def test_a_client_that_hangs_up_mid_body_is_not_an_error(daemon: DaemonProcess) -> None:
    for method in ("PUT", "PATCH"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
            raw.connect(str(daemon.socket))
            raw.sendall(f"{method} /v1/vaults/v/canvases/gone.canvas HTTP/1.1\r\nHost: canvasd\r\n"
                        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n".encode()
                        + b'{"nodes": [' + b" " * 4000)
        daemon.wait_for(lambda m=method: f"client went away during {m}" in daemon.log()
                        or "unexpected error" in daemon.log(), "the hang-up to be noted")
        _assert_clean_log(daemon)
    assert daemon.client.get("/v1/health").status_code == 200
    assert not (daemon.vault / "gone.canvas").exists()
    summary = daemon.client.get("/v1/metrics/summary").json()
    assert summary["requests"]["error_rate"] == 0, summary["requests"]
    _no_server_errors(daemon)
    _assert_clean_log(daemon)


# ------------------------------------------------------------------------------- 4. FIFOs, sockets, devices


def _special_files(vault: Path) -> list[str]:
    """A FIFO, a bound socket and (where allowed) a character device, each named *.canvas; their names."""
    os.mkfifo(vault / "fifo.canvas")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(vault / "socket.canvas"))
    server.close()  # the socket file stays
    os.symlink("fifo.canvas", vault / "to-fifo.canvas")
    names = ["fifo.canvas", "socket.canvas", "to-fifo.canvas"]
    try:
        os.mknod(vault / "device.canvas", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        names.append("device.canvas")
    except (PermissionError, OSError):
        pass  # no CAP_MKNOD here
    return names


def test_fifos_sockets_and_devices_named_canvas_are_refused_before_they_are_opened(short_tmp: Path) -> None:
    daemon = DaemonProcess(short_tmp / "d", config={"index": {"enabled": True}, "embedding": {"provider": "none"}})
    names = _special_files(daemon.vault)  # present at start: the watcher's scan and the index's reconcile meet them
    (daemon.vault / "ok.canvas").write_text(obsidian(DOC))
    try:
        daemon.start()
        os.mkfifo(daemon.vault / "late.canvas")  # and one that appears while the daemon watches
        names.append("late.canvas")
        before = _files(daemon.vault)
        for name in names:
            for method in ("GET", "PUT", "PATCH", "DELETE"):
                response = daemon.client.request(method, daemon.url("v", name), json=_body(method))
                assert response.status_code == 403, (name, method, response.text)
                error = _error(response)
                assert error["code"] == "path_refused" and "not a regular file" in error["message"]
        listed = daemon.client.get("/v1/vaults/v/canvases")
        assert listed.status_code == 200 and [row["path"] for row in listed.json()["canvases"]] == ["ok.canvas"]
        daemon.wait_for(lambda: daemon.get_json("/v1/index/status")["state"] in ("ready", "failed"),
                        "the index to reconcile")
        index = daemon.get_json("/v1/index/status")
        assert index["state"] == "ready" and index["rows"] == 1, index
        assert daemon.client.patch(daemon.url("v", "ok.canvas"), json=PATCH).status_code == 200
        assert _files(daemon.vault) == {**before, "ok.canvas": (daemon.vault / "ok.canvas").read_bytes()}
        _no_server_errors(daemon)
    finally:
        daemon.client.close()
        daemon.stop()  # no worker is stuck in open(): SIGTERM ends it (stop raises after STOP_TIMEOUT otherwise)
    assert daemon.returncode == 0
    _assert_clean_log(daemon)
    assert "timeout graceful shutdown exceeded" not in daemon.log()  # uvicorn cancelled no stuck request


# ------------------------------------------------------------------------------- 5. file descriptors


def _head(conn: socket.socket, request: bytes) -> tuple[int, list[str], bytes]:
    """Send one HTTP/1.1 request; the answer's status, header lines and whatever body followed them."""
    conn.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return int(lines[0].split()[1]), lines[1:], body


def _ask(conn: socket.socket, request: bytes) -> tuple[int, bytes]:
    """One request on a kept-alive connection: (status, body) of an answer with a Content-Length."""
    status, lines, body = _head(conn, request)
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return status, body


def _connect(daemon: DaemonProcess) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)  # a bound on a hang
    conn.connect(str(daemon.socket))
    return conn


EVENTS = b"GET /v1/events HTTP/1.1\r\nHost: canvasd\r\n\r\n"  # an endless answer: never idle, never timed out
HEALTH = b"GET /v1/health HTTP/1.1\r\nHost: canvasd\r\n\r\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the daemon's limits")
def test_connections_beyond_the_open_file_budget_are_refused_cleanly(tmp_path: Path) -> None:
    soft, hard = 96, 256
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < hard:
        pytest.skip("this process may not give its children 256 descriptors")
    with running_daemon(tmp_path / "d", nofile=(soft, hard)) as daemon:
        limits = Path(f"/proc/{daemon.proc.pid}/limits").read_text()
        line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)]  # the soft limit was raised to the hard one
        held: list[socket.socket] = []
        refusals: list[dict[str, Any]] = []
        try:
            while len(refusals) < 20:
                assert len(held) < hard, "no connection was ever refused"
                conn = _connect(daemon)
                status, lines, body = _head(conn, EVENTS)
                if status == 200:
                    assert not refusals, "a connection was admitted after others were refused"
                    held.append(conn)  # an event stream: it stays open
                    continue
                assert status == 503, body
                assert "content-type: application/json" in lines
                length = next(int(h.split(":", 1)[1]) for h in lines if h.startswith("content-length:"))
                while len(body) < length:
                    body += conn.recv(65536)
                refusals.append(json.loads(body)["error"])
                conn.close()
            assert len(held) >= 8
            assert {r["code"] for r in refusals} == {"too_many_connections"}
            assert refusals[0]["details"]["limit"] >= len(held)  # (the test client's own connection may count too)
            assert refusals[0]["details"]["limit"] <= hard - 64  # the reserve for the daemon's own files
            # one stream less: a new connection is admitted, and the daemon still reads, writes and lists files
            held.pop(0).close()
            admitted: list[socket.socket] = []

            def admitted_one() -> bool:
                conn = _connect(daemon)
                status, _ = _ask(conn, HEALTH)
                if status == 200:
                    admitted.append(conn)
                    return True
                conn.close()
                return False

            daemon.wait_for(admitted_one, "a connection to be admitted once another closed")
            conn = admitted[0]
            held.append(conn)
            doc = json.dumps(DOC).encode()
            status, body = _ask(conn, b"PUT /v1/vaults/v/canvases/held.canvas HTTP/1.1\r\nHost: canvasd\r\n"
                                b"Content-Type: application/json\r\nContent-Length: " + str(len(doc)).encode()
                                + b"\r\n\r\n" + doc)
            assert status == 201, body
            for target in (b"/v1/vaults/v/canvases", b"/metrics", b"/v1/jobs", b"/v1/vaults/v/canvases/held.canvas"):
                status, body = _ask(conn, b"GET " + target + b" HTTP/1.1\r\nHost: canvasd\r\n\r\n")
                assert status == 200, (target, body[:300])
        finally:
            for conn in held:
                conn.close()
        daemon.wait_for(lambda: daemon.client.get("/v1/health").status_code == 200, "connections to be admitted")
        assert json.loads((daemon.vault / "held.canvas").read_bytes()) == DOC
        _no_server_errors(daemon)
        _assert_clean_log(daemon)


def test_the_open_file_budget_raises_the_soft_limit_and_keeps_a_reserve(tmp_path: Path) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 256:
        pytest.skip("needs a hard limit of at least 256")
    code = ("import json, os, resource\n"
            "from canvasd.server.listener import open_file_budget\n"
            "budget = open_file_budget(64)\n"
            "print(json.dumps([budget, resource.getrlimit(resource.RLIMIT_NOFILE)[0], len(os.listdir('/dev/fd'))]))\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 256))

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         preexec_fn=limit, check=True)
    budget, soft, open_now = json.loads(run.stdout)
    assert soft == 256
    assert 256 - 64 - open_now - 2 <= budget <= 256 - 64


def test_a_refused_connection_gets_the_api_error_shape() -> None:
    from canvasd.server.listener import ConnectionGate

    gate = ConnectionGate(limit=2)
    assert gate.admit() and gate.admit() and not gate.admit()
    head, _, body = gate.refusal().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ") and b"content-type: application/json" in head
    assert int(next(line for line in head.split(b"\r\n") if line.startswith(b"content-length:"))
               .split(b":")[1]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "too_many_connections" and error["details"] == {"limit": 2}
    gate.release()
    assert gate.admit()
