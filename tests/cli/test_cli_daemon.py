"""The CLI against a real daemon subprocess on a temporary socket: every client command, end to end."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.canvas_factory import learning_doc, obsidian, tabs_multiline
from tests.support.corpus import ROOT
from tests.support.daemon import DaemonProcess

EVENT_WAIT_S = 20.0  # only bounds a hang; a healthy daemon answers at once


def _cli(daemon: DaemonProcess, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "canvasd.cli", "--socket", str(daemon.socket), *args],
                          capture_output=True, input=stdin, env=daemon.env, cwd=ROOT, timeout=60)


def _ok(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode("utf-8")


def _api_message(daemon: DaemonProcess, url: str) -> str:
    """The daemon's own error message for a GET of `url`."""
    response = daemon.client.get(url)
    assert response.status_code >= 400
    return str(response.json()["error"]["message"])


def test_status_in_text_and_json(daemon: DaemonProcess) -> None:
    lines = _ok(_cli(daemon, "status")).splitlines()
    assert daemon.proc is not None
    assert lines[0] == f"canvasd 0.1.0 is running: pid {daemon.proc.pid}, up {lines[0].split(' up ')[1]}"
    assert lines[0].endswith(f", socket {daemon.socket}")
    assert lines[-2:] == ["vaults: 1", f"  v     {daemon.vault}"]
    data = json.loads(_ok(_cli(daemon, "status", "--json")))
    assert data["health"]["status"] == "ok" and data["health"]["socket"] == str(daemon.socket)
    assert data["vaults"] == [{"name": "v", "root": str(daemon.vault), "exists": True}]


def test_ls_shows_a_table_and_json(daemon: DaemonProcess) -> None:
    doc = learning_doc(6)
    (daemon.vault / "a.canvas").write_text(obsidian(doc), encoding="utf-8")
    (daemon.vault / "数学").mkdir()
    (daemon.vault / "数学" / "极限.canvas").write_text(obsidian({"nodes": [], "edges": []}), encoding="utf-8")
    lines = _ok(_cli(daemon, "ls", "v")).splitlines()
    assert lines[0].split() == ["PATH", "NODES", "EDGES", "SIZE", "MODIFIED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"a.canvas", "数学/极限.canvas"}
    assert rows["a.canvas"][1:3] == [str(len(doc["nodes"])), str(len(doc["edges"]))]
    assert rows["数学/极限.canvas"][1:3] == ["0", "0"]
    # CJK characters take two terminal columns: the right-aligned NODES column still ends in one column
    ends = {_columns(line[:line.index(row[1], len(row[0]))]) + len(row[1])
            for line, row in zip(lines, [line.split() for line in lines], strict=True)}
    assert len(ends) == 1
    listing = json.loads(_ok(_cli(daemon, "ls", "v", "--json")))
    by_path = {c["path"]: c for c in listing["canvases"]}
    assert by_path["a.canvas"]["nodes"] == len(doc["nodes"])
    assert by_path["a.canvas"]["size"] == (daemon.vault / "a.canvas").stat().st_size


def _columns(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_put_then_cat_round_trips_byte_for_byte(daemon: DaemonProcess, tmp_path: Path) -> None:
    raw = obsidian(learning_doc(6)).encode("utf-8")
    source = tmp_path / "in.canvas"
    source.write_bytes(raw)
    (daemon.vault / "数学").mkdir()
    put = _ok(_cli(daemon, "put", "v", "数学/极限.canvas", str(source)))
    version = daemon.client.get(daemon.url("v", "数学/极限.canvas")).headers["etag"].strip('"')
    assert put == f"created v:数学/极限.canvas (version {version})\n"
    assert (daemon.vault / "数学" / "极限.canvas").read_bytes() == raw
    cat = _cli(daemon, "cat", "v", "数学/极限.canvas")
    assert cat.returncode == 0 and cat.stdout == raw
    shown = json.loads(_ok(_cli(daemon, "cat", "v", "数学/极限.canvas", "--json")))
    assert shown == {"vault": "v", "path": "数学/极限.canvas", "version": version, "canvas": learning_doc(6)}

    # a file written by another program comes back exactly as it is on disk
    odd = tabs_multiline(learning_doc(3)).encode("utf-8")
    (daemon.vault / "odd.canvas").write_bytes(odd)
    assert _cli(daemon, "cat", "v", "odd.canvas").stdout == odd


def test_put_from_stdin_with_if_match(daemon: DaemonProcess) -> None:
    first = obsidian({"nodes": [], "edges": []}).encode()
    created = json.loads(_ok(_cli(daemon, "put", "v", "p.canvas", "--json", stdin=first)))
    assert created["created"] is True
    second = obsidian(learning_doc(2)).encode()
    updated = _ok(_cli(daemon, "put", "v", "p.canvas", "-", "--if-match", created["version"], stdin=second))
    assert updated.startswith("updated v:p.canvas (version ")
    assert (daemon.vault / "p.canvas").read_bytes() == second
    stale = _cli(daemon, "put", "v", "p.canvas", "--if-match", created["version"], stdin=first)
    assert stale.returncode == 1 and stale.stdout == b""
    assert f"changed since version {created['version']}" in stale.stderr.decode()
    assert (daemon.vault / "p.canvas").read_bytes() == second


def test_patch_takes_a_list_a_file_or_stdin(daemon: DaemonProcess, tmp_path: Path) -> None:
    (daemon.vault / "q.canvas").write_text(obsidian({"nodes": [], "edges": []}), encoding="utf-8")
    node = {"id": "n1", "type": "text", "text": "极限", "x": 0, "y": 0, "width": 200, "height": 60}
    added = _ok(_cli(daemon, "patch", "v", "q.canvas", json.dumps([{"op": "add_node", "node": node}])))
    assert added.startswith("updated v:q.canvas (version ")
    ops_file = tmp_path / "ops.json"
    ops_file.write_text(json.dumps({"ops": [{"op": "update_node", "id": "n1", "set": {"color": "4"}}]}))
    _ok(_cli(daemon, "patch", "v", "q.canvas", f"@{ops_file}"))
    second = {**node, "id": "n2", "y": 100}
    answer = json.loads(_ok(_cli(daemon, "patch", "v", "q.canvas", "-", "--json",
                                 stdin=json.dumps([{"op": "add_node", "node": second}]).encode())))
    doc = json.loads((daemon.vault / "q.canvas").read_bytes())
    assert doc["nodes"] == [{**node, "color": "4"}, second]
    assert answer["version"] == daemon.client.get(daemon.url("v", "q.canvas")).headers["etag"].strip('"')
    refused = _cli(daemon, "patch", "v", "q.canvas", json.dumps([{"op": "remove_node", "id": "nope"}]))
    assert refused.returncode == 1 and b"nope" in refused.stderr


def test_rm_then_cat_reports_the_daemons_error(daemon: DaemonProcess) -> None:
    (daemon.vault / "gone.canvas").write_text(obsidian({"nodes": [], "edges": []}), encoding="utf-8")
    assert _ok(_cli(daemon, "rm", "v", "gone.canvas")) == "deleted v:gone.canvas\n"
    assert not (daemon.vault / "gone.canvas").exists()
    missing = _cli(daemon, "cat", "v", "gone.canvas")
    assert missing.returncode == 1 and missing.stdout == b""
    message = _api_message(daemon, daemon.url("v", "gone.canvas"))
    assert missing.stderr.decode() == f"canvasd: {message}\n"
    unknown = _cli(daemon, "ls", "nosuchvault")
    assert unknown.returncode == 1
    assert unknown.stderr.decode() == f"canvasd: {_api_message(daemon, '/v1/vaults/nosuchvault/canvases')}\n"


def test_no_wait_writes_then_flush(daemon: DaemonProcess) -> None:
    raw = obsidian(learning_doc(4)).encode()
    accepted = _ok(_cli(daemon, "put", "v", "later.canvas", "--no-wait", stdin=raw))
    assert accepted == "accepted v:later.canvas (it is committed in the background)\n"
    assert json.loads(_ok(_cli(daemon, "flush", "--json"))) == {"flushed": True}
    assert (daemon.vault / "later.canvas").read_bytes() == raw
    assert _ok(_cli(daemon, "rm", "v", "later.canvas", "--no-wait")).startswith("accepted v:later.canvas")
    assert _ok(_cli(daemon, "flush")) == "flushed: every pending write is committed\n"
    assert not (daemon.vault / "later.canvas").exists()


def test_stats_is_a_table_with_rows(daemon: DaemonProcess) -> None:
    _ok(_cli(daemon, "status"))
    lines = _ok(_cli(daemon, "stats")).splitlines()
    assert lines[0].split() == ["METRIC", "VALUE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if not line.startswith(("alerts", " "))}
    assert int(rows["requests.total"][0]) >= 2
    assert rows["optimizations.read_cache.enabled"] == ["on"]
    assert any(line.startswith("alerts:") for line in lines)
    data = json.loads(_ok(_cli(daemon, "stats", "--json")))
    assert data["summary"]["requests"]["total"] >= 3 and isinstance(data["alerts"], list)


def test_jobs_in_text_and_json(daemon: DaemonProcess) -> None:
    text = _ok(_cli(daemon, "jobs"))
    data = json.loads(_ok(_cli(daemon, "jobs", "--json")))
    assert {"limit", "min", "max", "adaptive", "running", "queued", "recent"} <= set(data)
    assert text.startswith(f"limit {data['limit']} (min {data['min']}, max {data['max']}, ")


def _first_lines(proc: subprocess.Popen[bytes], count: int, wait: float = EVENT_WAIT_S) -> list[str]:
    """The first `count` lines the process prints (fewer if it stops or prints nothing more for `wait` s)."""
    assert proc.stdout is not None
    buffer = b""
    deadline = time.monotonic() + wait
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while buffer.count(b"\n") < count and time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
    return buffer.decode("utf-8").splitlines()[:count]


def _follow(daemon: DaemonProcess, *args: str) -> tuple[list[str], int, str]:
    """Run `canvasd events ARGS`, read its first line, stop it with Ctrl-C: (lines, exit status, stderr)."""
    command = [sys.executable, "-m", "canvasd.cli", "--socket", str(daemon.socket), "events", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env,
                          cwd=ROOT) as proc:
        try:
            lines = _first_lines(proc, 1)
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
    return lines, proc.returncode, err.decode()


def test_events_since_a_cursor_shows_a_put(daemon: DaemonProcess) -> None:
    cursor = json.loads(_ok(_cli(daemon, "stats", "--json")))["summary"]["events"]["cursor"]
    raw = obsidian(learning_doc(2)).encode()
    version = json.loads(_ok(_cli(daemon, "put", "v", "watched.canvas", "--json", stdin=raw)))["version"]

    lines, status, err = _follow(daemon, "--since", str(cursor), "--json")
    assert status == 0, err  # Ctrl-C is the normal way to stop following
    [event] = [json.loads(line) for line in lines]
    assert {k: event[k] for k in ("kind", "vault", "path", "version", "origin")} == {
        "kind": "created", "vault": "v", "path": "watched.canvas", "version": version, "origin": "canvasd"}
    assert event["cursor"] > cursor

    lines, status, err = _follow(daemon, "--since", str(cursor))
    assert status == 0, err
    fields = lines[0].split()
    assert fields[1:5] == ["created", "canvasd", "v:watched.canvas", version[:12]]
    assert fields[5] == f"#{event['cursor']}"


def test_events_ends_with_exit_3_when_the_daemon_stops(daemon: DaemonProcess) -> None:
    command = [sys.executable, "-m", "canvasd.cli", "--socket", str(daemon.socket), "events", "--json"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=daemon.env,
                          cwd=ROOT) as proc:
        try:
            # keep writing until the follower prints one: then it is surely subscribed
            # (until a deadline, not a number of tries: a slow machine may take seconds to start the follower)
            lines: list[str] = []
            deadline = time.monotonic() + EVENT_WAIT_S
            attempt = 0
            while not lines and time.monotonic() < deadline:
                _ok(_cli(daemon, "put", "v", f"n{attempt}.canvas", stdin=b'{"nodes": [], "edges": []}'))
                lines = _first_lines(proc, 1, wait=0.5)
                attempt += 1
            assert lines, f"the follower printed nothing in {EVENT_WAIT_S} s"
            assert json.loads(lines[0])["kind"] == "created"
            daemon.stop()
            assert daemon.returncode == 0
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 3
    assert err.decode() == "canvasd: the daemon closed the event stream (it is shutting down?)\n"
