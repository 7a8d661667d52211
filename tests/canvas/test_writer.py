"""Coalesced atomic writes (canvas/writer.py, canvas/commit.py, canvas/atomic.py) on real files."""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from canvasd.canvas import CanvasEngine, Delete, Patch, Replace
from canvasd.canvas.atomic import TEMP_SUFFIX, TargetChangedError, replace_file, sweep_temp_files
from canvasd.canvas.store import content_version
from canvasd.config import load_settings
from canvasd.errors import (
    CanvasConflictError,
    CanvasNotFoundError,
    CanvasParseError,
    CanvasPathError,
    DiskFullError,
    WritePermissionError,
    WriterClosedError,
)
from tests.support import canvas_factory as cf

TEXT = {"type": "text", "x": 0, "y": 0, "width": 250, "height": 60}


def _add(i: int) -> Patch:
    return Patch([{"op": "add_node", "node": {"id": f"n{i}", "text": f"节点 {i}", **TEXT}}])


def _writes(engine) -> float:
    return engine.metrics.value("canvasd_canvas_physical_writes_total")


def _temp_files(directory: Path) -> list[Path]:
    return list(directory.rglob(f"*{TEMP_SUFFIX}"))


@pytest.fixture
def canvas(write_canvas):
    return write_canvas("c.canvas", cf.obsidian(cf.learning_doc()))


def test_burst_of_100_patches_is_at_most_two_physical_writes(canvas, make_engine) -> None:
    # A window far longer than submitting 100 patches takes on any machine; the flush ends it.
    engine = make_engine(batch_writer={"window_ms": 10_000, "max_delay_ms": 60_000})
    futures = [engine.submit(canvas, _add(i)) for i in range(100)]
    engine.flush()
    results = [f.result() for f in futures]
    assert _writes(engine) <= 2
    assert engine.metrics.value("canvasd_canvas_logical_ops_total") == 100
    ids = [n["id"] for n in json.loads(canvas.read_text())["nodes"]]
    assert ids[-100:] == [f"n{i}" for i in range(100)]
    assert results[-1].version == content_version(canvas.read_bytes())
    assert len({r.version for r in results}) == _writes(engine)  # group commit: one version per write


def test_requests_in_one_window_share_one_durable_write(canvas, make_engine) -> None:
    # The window (not a flush) commits them: long enough that a busy machine still submits all 5 inside it.
    # Without the leading edge even the first request waits for the window.
    engine = make_engine(batch_writer={"window_ms": 1000, "max_delay_ms": 5000, "leading_edge": False})
    futures = [engine.submit(canvas, _add(i)) for i in range(5)]
    assert not any(f.done() for f in futures)  # no-wait mode: queued, not yet committed
    results = [f.result(timeout=10) for f in futures]
    assert _writes(engine) == 1
    assert {r.version for r in results} == {content_version(canvas.read_bytes())}


# ---------------------------------------------------------------------------------- leading edge

def test_a_lone_write_is_committed_without_waiting_for_the_window(canvas, make_engine) -> None:
    # A minute-long window: had the write waited for it, apply's 30 s timeout would end the test.
    engine = make_engine(batch_writer={"window_ms": 60_000, "max_delay_ms": 120_000})
    result = engine.apply(canvas, _add(1), timeout=30)
    assert _writes(engine) == 1
    assert result.written and result.version == content_version(canvas.read_bytes())
    assert "n1" in {n["id"] for n in json.loads(canvas.read_text())["nodes"]}


def test_writes_within_the_window_after_a_commit_share_one_trailing_commit(canvas, make_engine) -> None:
    # The window (not a flush) ends them: long enough that a busy machine still submits all 5 inside it.
    engine = make_engine(batch_writer={"window_ms": 1000, "max_delay_ms": 5000})
    leading = engine.apply(canvas, _add(0), timeout=30)
    futures = [engine.submit(canvas, _add(i)) for i in range(1, 6)]
    assert _writes(engine) == 1
    results = [f.result(timeout=30) for f in futures]
    assert _writes(engine) == 2
    assert {r.version for r in results} == {content_version(canvas.read_bytes())} != {leading.version}
    ids = [n["id"] for n in json.loads(canvas.read_text())["nodes"]]
    assert ids[-6:] == [f"n{i}" for i in range(6)]


def test_a_second_write_in_a_long_window_waits_for_it(canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 60_000, "max_delay_ms": 120_000})
    engine.apply(canvas, _add(0), timeout=30)
    second = engine.submit(canvas, _add(1))
    assert not second.done() and _writes(engine) == 1  # held until the window ends (or a flush)
    engine.flush(timeout=30)
    assert second.result().written and _writes(engine) == 2


def test_a_request_that_arrives_during_a_commit_waits_for_the_next_one(canvas) -> None:
    late: list = []

    def arrive_during_commit(path: Path, version: str | None) -> None:  # runs while the first commit is in flight
        if not late:
            late.append(engine.submit(path, _add(2)))

    settings = load_settings(batch_writer={"window_ms": 1000, "max_delay_ms": 5000, "fsync": False})
    with CanvasEngine(settings, on_write=arrive_during_commit) as engine:
        first = engine.apply(canvas, _add(1), timeout=30)
        assert len(late) == 1
        second = late[0].result(timeout=30)  # committed by the window's end, no flush
        assert _writes(engine) == 2 and first.version != second.version
    ids = [n["id"] for n in json.loads(canvas.read_text())["nodes"]]
    assert ids[-2:] == ["n1", "n2"]


def test_a_burst_without_a_flush_is_one_leading_and_one_trailing_write(canvas, make_engine) -> None:
    # The window, not a flush, commits the trailing part; it is far longer than submitting 100 patches takes.
    engine = make_engine(batch_writer={"window_ms": 2000, "max_delay_ms": 5000})
    futures = [engine.submit(canvas, _add(i)) for i in range(100)]
    results = [f.result(timeout=30) for f in futures]
    # one write when all 100 were queued before the leading commit took them, else the leading one and one more
    assert 1 <= _writes(engine) <= 2
    assert len({r.version for r in results}) == _writes(engine)
    assert engine.metrics.value("canvasd_canvas_logical_ops_total") == 100
    ids = [n["id"] for n in json.loads(canvas.read_text())["nodes"]]
    assert ids[-100:] == [f"n{i}" for i in range(100)]  # nothing lost, in the order submitted
    assert results[-1].version == content_version(canvas.read_bytes())


def test_canvases_have_windows_of_their_own(write_canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 60_000, "max_delay_ms": 120_000})
    one = write_canvas("one.canvas", cf.obsidian(cf.learning_doc()))
    two = write_canvas("two.canvas", cf.obsidian(cf.learning_doc()))
    engine.apply(one, _add(1), timeout=30)
    engine.apply(two, _add(1), timeout=30)  # one's window does not hold two's first write
    assert _writes(engine) == 2


def test_max_delay_bounds_how_long_a_steady_stream_waits(canvas, make_engine) -> None:
    # The window reopened by every request (leading edge off) is what max_delay bounds.
    engine = make_engine(batch_writer={"window_ms": 50, "max_delay_ms": 100, "leading_edge": False})
    futures = []
    deadline = time.monotonic() + 1.0
    i = 0
    while time.monotonic() < deadline:  # a request every 10 ms never leaves a 50 ms gap
        futures.append(engine.submit(canvas, _add(i)))
        i += 1
        time.sleep(0.01)
    for f in futures:
        f.result(timeout=10)
    assert _writes(engine) >= 3  # without max_delay the stream would be a single write at its end


def test_external_edit_inside_the_window_is_preserved(canvas, make_engine) -> None:
    # The window stays open however long the other process takes to start; the flush closes it.
    engine = make_engine(batch_writer={"window_ms": 60_000, "max_delay_ms": 60_000})
    engine.apply(canvas, _add(0), timeout=30)  # the leading commit: the next request waits for the window
    future = engine.submit(canvas, _add(1))
    # Obsidian writes the file in between (a separate process, in place, as its writeFile does).
    script = ("import json,sys; p=sys.argv[1]; d=json.load(open(p,encoding='utf-8'));"
              "d['nodes'].append({'id':'obsidian','type':'text','text':'typed in Obsidian','x':0,'y':0,"
              "'width':10,'height':10}); open(p,'w',encoding='utf-8').write(json.dumps(d))")
    subprocess.run([os.sys.executable, "-c", script, str(canvas)], check=True)
    assert not future.done()  # the external edit did land inside the window
    engine.flush()
    future.result(timeout=10)
    ids = {n["id"] for n in json.loads(canvas.read_text())["nodes"]}
    assert {"obsidian", "n0", "n1"} <= ids


def test_a_half_written_canvas_is_read_again_before_a_patch_fails(canvas, make_engine) -> None:
    """Obsidian truncates and rewrites in place: a commit must not fail on the half-written moment."""
    engine = make_engine(batch_writer={"enabled": False})
    full = canvas.read_bytes()
    canvas.write_bytes(full[: len(full) // 2])  # Obsidian is mid-write

    def finish() -> None:  # Obsidian finishes writing once the engine has seen the half file (not after a delay)
        deadline = time.monotonic() + 30
        while engine.metrics.value("canvasd_canvas_parse_retries_total") < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        canvas.write_bytes(full)

    finisher = threading.Thread(target=finish)
    finisher.start()
    try:
        engine.apply(canvas, _add(1))
    finally:
        finisher.join()
    assert engine.metrics.value("canvasd_canvas_parse_retries_total") >= 1
    ids = [n["id"] for n in json.loads(canvas.read_text())["nodes"]]
    assert ids[-1] == "n1" and len(ids) == len(cf.learning_doc()["nodes"]) + 1


def test_a_canvas_that_stays_broken_is_reported_not_rewritten(write_canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"enabled": False})
    text = cf.INVALID["trailing_comma_in_nodes"][0]
    path = write_canvas("broken.canvas", text)
    with pytest.raises(CanvasParseError):
        engine.apply(path, _add(1))
    assert engine.metrics.value("canvasd_canvas_parse_retries_total") == 2  # recent: re-read twice, then believed
    assert path.read_text() == text


def test_target_changed_just_before_rename_aborts_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "a.canvas"
    target.write_text("old")
    with pytest.raises(TargetChangedError):
        replace_file(target, b"new", fsync=True, unchanged=lambda: False)
    assert target.read_text() == "old"
    assert not _temp_files(tmp_path)


def test_if_version_guards_against_lost_updates(canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 50})
    seen = engine.read(canvas).version
    first = engine.submit(canvas, _add(1).__class__([{"op": "add_node", "node": {"id": "a", **TEXT, "text": "a"}}],
                                                    if_version=seen))
    second = engine.submit(canvas, Patch([{"op": "add_node", "node": {"id": "b", **TEXT, "text": "b"}}],
                                         if_version=seen))
    assert first.result(timeout=10).version == content_version(canvas.read_bytes())
    with pytest.raises(CanvasConflictError) as err:
        second.result(timeout=10)
    assert err.value.expected == seen and err.value.status == 412
    assert "b" not in {n["id"] for n in json.loads(canvas.read_text())["nodes"]}
    with pytest.raises(CanvasConflictError):
        engine.apply(canvas, Replace({"nodes": []}, if_version=seen))
    current = engine.read(canvas).version
    engine.apply(canvas, Patch([{"op": "remove_node", "id": "a"}], if_version=current))
    assert engine.metrics.value("canvasd_canvas_write_conflicts_total") == 2


def test_create_replace_delete(tmp_path: Path, engine) -> None:
    path = tmp_path / "sub" / "new.canvas"
    path.parent.mkdir()
    created = engine.apply(path, Replace({"nodes": [], "edges": []}))
    assert created.created and path.exists()
    again = engine.apply(path, Replace({"nodes": [], "edges": []}))
    assert not again.created and not again.written and again.version == created.version
    deleted = engine.apply(path, Delete(if_version=created.version))
    assert deleted.version is None and not path.exists()
    with pytest.raises(CanvasNotFoundError):
        engine.apply(path, Delete())
    with pytest.raises(CanvasNotFoundError):
        engine.read(path)


def test_file_mode_is_kept_and_non_canvas_paths_refused(canvas, tmp_path: Path, engine) -> None:
    os.chmod(canvas, 0o640)
    engine.apply(canvas, _add(1))
    assert stat.S_IMODE(canvas.stat().st_mode) == 0o640
    with pytest.raises(CanvasPathError):
        engine.submit(tmp_path / "notes.md", Replace({"nodes": []}))  # refused before anything is queued
    assert not (tmp_path / "notes.md").exists()
    secret = tmp_path / "secret.md"
    secret.write_text("my notes")
    (tmp_path / "trap.canvas").symlink_to(secret)
    with pytest.raises(CanvasPathError, match="symlink"):
        engine.apply(tmp_path / "trap.canvas", Replace({"nodes": []}))
    assert secret.read_text() == "my notes"


def test_malformed_file_is_replaced_only_by_a_caller_who_saw_it(write_canvas, engine) -> None:
    text = cf.INVALID["trailing_comma_in_nodes"][0]
    path = write_canvas("bad.canvas", text)
    with pytest.raises(CanvasParseError):
        engine.apply(path, Replace({"nodes": [], "edges": []}))
    assert path.read_text() == text
    seen = engine.read(path, parse=False).version
    engine.apply(path, Replace({"nodes": [], "edges": []}, if_version=seen))
    assert json.loads(path.read_text()) == {"nodes": [], "edges": []}


def test_unexpected_failure_in_the_batch_falls_back_to_one_by_one(canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 60_000, "max_delay_ms": 60_000})  # one batch, whatever the pace
    good1 = engine.submit(canvas, _add(1))
    bad = engine.submit(canvas, Replace({"nodes": [], "edges": [], "x": {1, 2}}))  # a set is not JSON
    good2 = engine.submit(canvas, _add(2))
    engine.flush()
    good1.result(timeout=10)
    good2.result(timeout=10)
    with pytest.raises(TypeError):
        bad.result(timeout=10)
    assert engine.metrics.value("canvasd_optimization_fallbacks_total", optimization="batch_writer") == 1
    ids = {n["id"] for n in json.loads(canvas.read_text())["nodes"]}
    assert {"n1", "n2"} <= ids


def test_close_flushes_and_then_refuses(canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 5000, "max_delay_ms": 10000})
    future = engine.submit(canvas, _add(1))
    engine.close()
    assert future.done() and "n1" in canvas.read_text()
    with pytest.raises(WriterClosedError):
        engine.submit(canvas, _add(2))


def test_concurrent_writers_from_many_threads_lose_nothing(canvas, make_engine) -> None:
    engine = make_engine(batch_writer={"window_ms": 20})

    def agent(k: int) -> None:
        for i in range(25):
            engine.apply(canvas, Patch([{"op": "add_node", "node": {"id": f"a{k}-{i}", "text": "t", **TEXT}}]))

    threads = [threading.Thread(target=agent, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = {n["id"] for n in json.loads(canvas.read_text())["nodes"]}
    assert {f"a{k}-{i}" for k in range(4) for i in range(25)} <= ids
    assert _writes(engine) < 100


def test_stale_temp_files_of_dead_writers_are_swept(tmp_path: Path, engine) -> None:
    dead = subprocess.run([os.sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".a.canvas.{pid}.0123abcd{TEMP_SUFFIX}"
    stale.write_text("partial")
    mine = tmp_path / f".b.canvas.{os.getpid()}.0123abcd{TEMP_SUFFIX}"
    mine.write_text("in progress")
    engine.apply(tmp_path / "a.canvas", Replace({"nodes": []}))  # first write in the directory sweeps it
    assert not stale.exists() and mine.exists()
    assert sweep_temp_files(tmp_path) == []


# ------------------------------------------------------------------------------ switches off = same bytes

def _scenario(engine, directory: Path) -> list[tuple[str | None, bytes]]:
    """A fixed mix of requests; returns (version, bytes) after each step."""
    path = directory / "s.canvas"
    path.write_text(cf.pretty2(cf.learning_doc()))
    out = []

    def record(version: str | None) -> None:
        out.append((version, path.read_bytes()))

    record(engine.apply(path, _add(1)).version)
    futures = [engine.submit(path, _add(i)) for i in range(2, 6)]
    futures.append(engine.submit(path, Patch([{"op": "remove_node", "id": "missing"}])))
    futures.append(engine.submit(path, Patch([{"op": "update_node", "id": "n3", "set": {"color": "4"}}])))
    engine.flush()
    record(futures[-1].result().version)
    doc = engine.read(path).document
    doc = json.loads(json.dumps(doc))
    doc["nodes"][0]["text"] = "replaced 替换"
    record(engine.apply(path, Replace(doc)).version)
    record(engine.apply(path, Patch([{"op": "remove_node", "id": cf.node(1)["id"]}])).version)
    return out


def test_every_switch_off_gives_identical_bytes(tmp_path: Path, make_engine) -> None:
    results = {}
    for cache, batch, parser in itertools.product([True, False], [True, False], ["orjson", "json"]):
        directory = tmp_path / f"{cache}-{batch}-{parser}"
        directory.mkdir()
        engine = make_engine(read_cache={"enabled": cache}, batch_writer={"enabled": batch, "window_ms": 20},
                             json_engine=parser)
        results[(cache, batch, parser)] = _scenario(engine, directory)
        engine.close()
    baseline = results[(False, False, "json")]
    for key, steps in results.items():
        assert steps == baseline, f"switches {key} differ from the plain path"


# ------------------------------------------------------------------------------------- full / read-only

@pytest.fixture
def small_fs(tmp_path: Path):
    """A real 256 KiB tmpfs: a vault on a disk that can fill up or turn read-only."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_leaves_the_old_file_intact_and_no_temp_file(small_fs: Path, make_engine) -> None:
    engine = make_engine(batch_writer={"fsync": True, "window_ms": 5})
    path = small_fs / "c.canvas"
    engine.apply(path, Replace(cf.learning_doc()))
    before = path.read_bytes()
    filler = small_fs / "filler.bin"
    with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 4096)
    big = {"id": "big", "type": "text", "text": "x" * 50_000, **{k: v for k, v in TEXT.items() if k != "type"}}
    with pytest.raises(DiskFullError) as err:
        engine.apply(path, Patch([{"op": "add_node", "node": big}]))
    assert err.value.status == 507 and "nothing on disk was changed" in str(err.value)
    assert engine.metrics.value("canvasd_canvas_write_failures_total") == 1
    assert path.read_bytes() == before
    assert not _temp_files(small_fs)
    assert engine.read(path).raw == before
    filler.unlink()
    engine.apply(path, Patch([{"op": "add_node", "node": big}]))
    assert "big" in path.read_text()


def test_read_only_vault_reports_permission_error(small_fs: Path, make_engine) -> None:
    engine = make_engine()
    path = small_fs / "c.canvas"
    engine.apply(path, Replace(cf.learning_doc()))
    before = path.read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    with pytest.raises(WritePermissionError) as err:
        engine.apply(path, _add(1))
    assert err.value.status == 403
    assert engine.metrics.value("canvasd_canvas_write_failures_total") == 1
    assert path.read_bytes() == before


def test_a_symlinked_canvas_stays_a_symlink(tmp_path: Path, engine) -> None:
    real = tmp_path / "real" / "Calculus.canvas"
    real.parent.mkdir()
    real.write_text(cf.obsidian(cf.learning_doc()))
    link = tmp_path / "vault" / "Calculus.canvas"
    link.parent.mkdir()
    link.symlink_to(real)
    engine.apply(link, _add(1))
    assert link.is_symlink() and "n1" in real.read_text()
    assert not _temp_files(tmp_path)


def test_owner_of_a_replaced_canvas_is_kept(canvas, engine) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can create a file owned by another user to check this")
    os.chown(canvas, 1234, 5678)
    engine.apply(canvas, _add(1))
    st = canvas.stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)
