"""The change feed over HTTP: origins, resuming with since, reset for a too-old cursor, shutdown."""

from __future__ import annotations

import json
import queue
import signal
from pathlib import Path

import pytest

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, EventStream, running_daemon

DOC = {"nodes": [{"id": "a", "type": "text", "text": "a", "x": 0, "y": 0, "width": 10, "height": 10}], "edges": []}


def test_external_and_own_writes_are_told_apart(daemon: DaemonProcess) -> None:
    stream = EventStream(daemon)
    try:
        (daemon.vault / "ext.canvas").write_text(obsidian(DOC))
        created = stream.until(lambda e: e["path"] == "ext.canvas")
        assert created["kind"] == "created" and created["origin"] == "external" and created["vault"] == "v"
        assert created["version"] == daemon.client.get(daemon.url("v", "ext.canvas")).headers["etag"].strip('"')

        put = daemon.client.put(daemon.url("v", "own.canvas"), json=DOC)
        own = stream.until(lambda e: e["path"] == "own.canvas")
        assert own["kind"] == "created" and own["origin"] == "canvasd" and own["version"] == put.json()["version"]

        patched = daemon.client.patch(daemon.url("v", "ext.canvas"),
                                      json={"ops": [{"op": "update_node", "id": "a", "set": {"color": "4"}}]})
        changed = stream.until(lambda e: e["path"] == "ext.canvas")
        assert changed["kind"] == "changed" and changed["origin"] == "canvasd"
        assert changed["version"] == patched.json()["version"]
        assert int(changed["cursor"]) > int(own["cursor"]) > int(created["cursor"])
        assert changed["_id"] == str(changed["cursor"]) and changed["_event"] == "changed"

        (daemon.vault / "ext.canvas").unlink()
        deleted = stream.until(lambda e: e["path"] == "ext.canvas")
        assert deleted["kind"] == "deleted" and deleted["origin"] == "external"
    finally:
        stream.close()


def test_a_reconnecting_client_gets_what_it_missed(daemon: DaemonProcess) -> None:
    stream = EventStream(daemon)
    (daemon.vault / "first.canvas").write_text(obsidian(DOC))
    last = stream.until(lambda e: e["path"] == "first.canvas")
    stream.close()
    for name in ("m1", "m2", "m3"):
        daemon.client.put(daemon.url("v", f"{name}.canvas"), json=DOC)
    resumed = EventStream(daemon, since=last["cursor"])
    try:
        missed = [resumed.next() for _ in range(3)]
        assert [e["path"] for e in missed] == ["m1.canvas", "m2.canvas", "m3.canvas"]
        assert all(e["origin"] == "canvasd" for e in missed)
        with pytest.raises(queue.Empty):
            resumed.next(timeout=0.5)  # nothing twice, nothing else
    finally:
        resumed.close()


def test_a_too_old_cursor_gets_a_reset(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config={"watcher": {"history": 4}}) as daemon:
        stream = EventStream(daemon)
        daemon.client.put(daemon.url("v", "x0.canvas"), json=DOC)
        first = stream.until(lambda e: e["path"] == "x0.canvas")
        stream.close()
        for i in range(1, 8):
            daemon.client.put(daemon.url("v", f"x{i}.canvas"), json=DOC)
        daemon.wait_for(lambda: daemon.get_json("/v1/metrics/summary")["events"]["cursor"] >= first["cursor"] + 7,
                        "the seven writes to be published", poll=0.02)
        late = EventStream(daemon, since=first["cursor"])
        try:
            reset = late.next()
            assert reset["kind"] == "reset" and reset["cursor"] >= first["cursor"] + 7
        finally:
            late.close()
        bad = daemon.client.get("/v1/events", params={"since": "yesterday"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_parameter"


def test_followers_do_not_hold_up_shutdown(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    try:
        daemon.start()
        streams = [EventStream(daemon) for _ in range(3)]
        daemon.stop(signal.SIGTERM, timeout=20)
        assert daemon.returncode == 0
        for stream in streams:
            stream.close()
    finally:
        daemon.close()


def test_a_restart_resets_clients_holding_an_old_cursor(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "d")
    try:
        daemon.start()
        stream = EventStream(daemon)
        daemon.client.put(daemon.url("v", "r.canvas"), json=DOC)
        seen = stream.until(lambda e: e["path"] == "r.canvas")
        stream.close()
        daemon.stop()
        (daemon.vault / "r.canvas").write_text(json.dumps(DOC))  # changed while no daemon watched
        daemon.start()
        resumed = EventStream(daemon, since=seen["cursor"])
        try:
            assert resumed.next()["kind"] == "reset"
        finally:
            resumed.close()
    finally:
        daemon.close()
