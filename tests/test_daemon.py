"""The daemon process: socket and folder permissions, one daemon per socket, shutdown that loses nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

DOC = {"nodes": [{"id": "a", "type": "text", "text": "a", "x": 0, "y": 0, "width": 10, "height": 10}], "edges": []}


def test_socket_is_0600_in_a_0700_folder_and_removed_on_exit(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    try:
        daemon.start()
        assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600
        assert stat.S_ISSOCK(daemon.socket.stat().st_mode)
        assert stat.S_IMODE(daemon.socket.parent.stat().st_mode) == 0o700
        daemon.stop()
        assert daemon.returncode == 0
        assert not daemon.socket.exists()
        assert not daemon.socket.with_name("canvasd.sock.lock").exists()
        assert '"canvasd stopped"' in daemon.log()
    finally:
        daemon.close()


def test_the_discovery_file_says_where_the_daemon_listens_while_it_runs(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d", config={"http": {"tcp_port": _free_port()}})
    try:
        daemon.start()
        found = daemon.data / "canvasd" / "daemon.json"
        info = json.loads(found.read_text())
        assert stat.S_IMODE(found.stat().st_mode) == 0o600
        assert info["socket"] == str(daemon.socket) and info["pid"] == daemon.proc.pid
        assert info["tcp_port"] == daemon.config["http"]["tcp_port"]
        assert Path(info["token_file"]).read_text().strip()  # the token a TCP client needs is there
        second = subprocess.run(daemon.command(), env=daemon.env, capture_output=True, timeout=30)
        assert second.returncode == 1 and json.loads(found.read_text())["pid"] == daemon.proc.pid  # left alone
        daemon.stop()
        assert not found.exists()
    finally:
        daemon.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_second_daemon_on_the_same_socket_exits_with_a_clear_error(daemon: DaemonProcess) -> None:
    second = subprocess.run(daemon.command(), env=daemon.env, capture_output=True, timeout=30)
    assert second.returncode == 1
    assert f"another canvasd (pid {daemon.proc.pid}) is already serving {daemon.socket}" in second.stderr.decode()
    assert daemon.client.get("/v1/health").status_code == 200  # the first one is unharmed


def test_a_stale_socket_left_by_a_killed_daemon_is_replaced(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    try:
        daemon.start()
        daemon.stop(signal.SIGKILL)
        assert daemon.socket.exists()  # nobody removed it
        daemon.start()
        assert daemon.client.get("/v1/health").json()["pid"] == daemon.proc.pid
    finally:
        daemon.close()


def test_a_socket_file_someone_else_listens_on_is_not_stolen(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    daemon.socket.parent.mkdir(mode=0o700, parents=True)
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squatter.bind(str(daemon.socket))
    squatter.listen(1)
    try:
        result = subprocess.run(daemon.command(), env=daemon.env, capture_output=True, timeout=30)
        assert result.returncode == 1 and "already serving" in result.stderr.decode()
        assert daemon.socket.exists()
    finally:
        squatter.close()
        daemon.close()


def test_sigterm_with_pending_writes_loses_nothing(tmp_path: Path) -> None:
    # A window far longer than the 100 requests take on any machine: only the shutdown flush can commit them.
    config = {"batch_writer": {"window_ms": 600_000, "max_delay_ms": 600_000, "fsync": True, "leading_edge": False}}
    daemon = DaemonProcess(tmp_path / "d", config=config)
    try:
        daemon.start()
        for i in range(20):
            (daemon.vault / f"c{i}.canvas").write_text(obsidian(DOC))
        for i in range(20):
            for j in range(5):
                op = {"op": "add_node", "node": {"id": f"n{j}", "type": "text", "text": f"第{j}", "x": j * 20,
                                                 "y": 50, "width": 10, "height": 10}}
                url = daemon.url("v", f"c{i}.canvas") + "?wait=false"
                assert daemon.client.patch(url, json={"ops": [op]}).status_code == 202
        assert daemon.metric("canvasd_canvas_physical_writes_total") == 0
        daemon.stop(signal.SIGTERM)
        assert daemon.returncode == 0
        for i in range(20):
            nodes = json.loads((daemon.vault / f"c{i}.canvas").read_bytes())["nodes"]
            assert [n["id"] for n in nodes] == ["a", "n0", "n1", "n2", "n3", "n4"]
    finally:
        daemon.close()


def test_requests_in_progress_finish_during_shutdown(tmp_path: Path) -> None:
    # The PATCH waits for a window far longer than the server's graceful shutdown (10 s), so it is surely in
    # progress at the SIGTERM: the shutdown commits what is pending at once, and the waiting request gets its 200.
    config = {"batch_writer": {"window_ms": 600_000, "max_delay_ms": 600_000}}
    daemon = DaemonProcess(tmp_path / "d", config=config)
    try:
        daemon.start()
        (daemon.vault / "w.canvas").write_text(obsidian(DOC))
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(daemon.socket)), base_url="http://canvasd",
                          timeout=30) as client:
            import threading

            answers: list[httpx.Response] = []
            waiting = threading.Thread(target=lambda: answers.append(client.patch(
                daemon.url("v", "w.canvas"), json={"ops": [{"op": "update_node", "id": "a", "set": {"x": 7}}]})))
            waiting.start()
            daemon.wait_for(lambda: daemon.metric("canvasd_canvas_write_requests_total") >= 1,
                            "the PATCH to reach the writer", poll=0.01)
            daemon.proc.send_signal(signal.SIGTERM)
            waiting.join(30)
        assert answers and answers[0].status_code == 200, answers
        assert json.loads((daemon.vault / "w.canvas").read_bytes())["nodes"][0]["x"] == 7
        daemon.stop()
        assert daemon.returncode == 0
    finally:
        daemon.close()


def test_a_socket_folder_open_to_others_is_refused(tmp_path: Path, short_tmp: Path) -> None:
    folder = short_tmp / "shared"  # a short path: the refusal, not the length of the socket path, is checked
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    daemon = DaemonProcess(tmp_path / "d", extra_args=["--socket", str(folder / "c.sock")])
    try:
        result = subprocess.run(daemon.command(), env=daemon.env, capture_output=True, timeout=30)
        assert result.returncode != 0
        assert "accessible to other users" in result.stderr.decode()
        assert not (folder / "c.sock").exists()
    finally:
        daemon.close()


def test_tcp_listener_needs_the_bearer_token(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running_daemon(tmp_path / "d", config={"http": {"tcp_port": port}}) as daemon:
        token_file = daemon.data / "canvasd" / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(base + "/v1/health").status_code == 401
        assert httpx.get(base + "/v1/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(base + "/v1/health", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["status"] == "ok"
        assert daemon.client.get("/v1/health").status_code == 200  # the Unix socket needs no token


def test_the_event_cursor_keeps_increasing_across_restarts(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    try:
        daemon.start()
        cursor_before = daemon.client.get("/v1/metrics/summary").json()["events"]["cursor"]
        daemon.stop(signal.SIGKILL)
        daemon.start()
        assert daemon.client.get("/v1/metrics/summary").json()["events"]["cursor"] > cursor_before
    finally:
        daemon.close()


def test_switched_off_and_failed_subsystems_answer_one_error_with_one_status(tmp_path: Path) -> None:
    # the memory graph fails at once (a scheme no graph server speaks); the index is switched off
    config = {"index": {"enabled": False}, "memory": {"enabled": True, "uri": "gopher://127.0.0.1:1"}}
    with running_daemon(tmp_path / "d", config=config) as d:
        deadline = time.monotonic() + 30
        while (health := d.client.get("/v1/health").json())["subsystems"]["memory"] != "failed":
            assert time.monotonic() < deadline, health
            time.sleep(0.05)
        assert health["status"] == "degraded"
        assert health["subsystems"] == {"api": "ready", "watcher": "ready", "index": "off", "memory": "failed",
                                         "agents": "ready", "review": "off"}
        answers = {"index": d.client.get("/v1/search", params={"q": "limits"}),
                   "memory": d.client.get("/v1/memory/stats"), "review": d.client.get("/v1/review/due")}
        for name, answer in answers.items():
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "subsystem_unavailable"
            assert error["details"]["subsystem"] == name and error["details"]["state"] == health["subsystems"][name]
        assert "switched off (index.enabled: false)" in answers["index"].json()["error"]["message"]
        assert "switched off (review.enabled: false)" in answers["review"].json()["error"]["message"]
        assert "gopher" in answers["memory"].json()["error"]["message"]
        assert d.client.get("/v1/index/status").json()["state"] == "off"
        assert d.client.get("/v1/health").status_code == 200  # the daemon itself is fine
