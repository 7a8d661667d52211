"""The engine against hostile input on real files: names and paths the file system cannot take, FIFOs and
sockets named *.canvas, and JSON nested deeper than recursion reaches (in requests and in files on disk)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canvasd.canvas import CanvasEngine, Patch, Replace
from canvasd.canvas.atomic import replace_file, temp_name
from canvasd.canvas.layout import MAX_DEPTH, deeper_than, exceeds_depth
from canvasd.canvas.vaults import Vault
from canvasd.errors import (
    BodyTooDeepError,
    CanvasPathError,
    CanvasTooDeepError,
    InvalidPathError,
    OpFormatError,
)
from tests.support import canvas_factory as cf

NODE = {"id": "a", "type": "text", "text": "t", "x": 0, "y": 0, "width": 1, "height": 1}


def _nested_value(depth: int) -> list[Any]:
    """`depth` arrays, one inside the other, built without recursion."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _deep_canvas(depth: int) -> str:
    return ('{"nodes":[{"id":"a","type":"text","text":"t","x":0,"y":0,"width":1,"height":1,"extra":'
            + "[" * depth + "]" * depth + '}],"edges":[]}')


# ------------------------------------------------------------------------------- paths


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    root = tmp_path / "vault"
    root.mkdir()
    return Vault("v", root)


def test_names_and_paths_the_file_system_cannot_hold_are_refused_by_resolve(vault: Vault) -> None:
    name_max, path_max = vault.name_limits()
    assert (name_max, path_max) == (os.pathconf(vault.root, "PC_NAME_MAX"), os.pathconf(vault.root, "PC_PATH_MAX"))
    with pytest.raises(InvalidPathError, match=f"a path segment is {name_max + 1} bytes; the file system allows "
                                               f"{name_max}"):
        vault.resolve("x" * (name_max + 1 - len(".canvas")) + ".canvas")
    with pytest.raises(InvalidPathError, match="full path"):
        vault.resolve("/".join(["f" * 200] * (path_max // 200 + 1)) + "/x.canvas")
    with pytest.raises(InvalidPathError, match="not valid Unicode"):
        vault.resolve("\ud800.canvas")
    assert vault.resolve("x" * (name_max - len(".canvas")) + ".canvas").name.startswith("x")


def test_paths_that_cannot_be_followed_are_refused_naming_the_culprit(vault: Vault) -> None:
    root = vault.root
    (root / "file.canvas").write_text("{}")
    os.symlink("loop.canvas", root / "loop.canvas")
    os.symlink("file.canvas", root / "filelink")
    with pytest.raises(CanvasPathError, match="symlinks form a loop"):
        vault.resolve("loop.canvas")
    with pytest.raises(CanvasPathError, match=r"'file\.canvas' is a file, not a folder"):
        vault.resolve("file.canvas/x.canvas")
    with pytest.raises(CanvasPathError, match="a folder on its path is a file"):
        vault.resolve("filelink/x.canvas")
    assert vault.resolve("new/folder/x.canvas") == Path(os.path.realpath(root)) / "new" / "folder" / "x.canvas"


def test_the_listing_skips_what_it_could_not_serve(vault: Vault) -> None:
    root = vault.root
    (root / "ok.canvas").write_text("{}")
    os.mkfifo(root / "fifo.canvas")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        try:
            server.bind(str(root / "s.canvas"))
        except OSError:
            pytest.skip("the vault's path is too long for a Unix socket")
    os.symlink("loop.canvas", root / "loop.canvas")
    os.symlink("fifo.canvas", root / "to-fifo.canvas")
    with open(os.fsencode(root) + b"/\xff.canvas", "w") as f:
        f.write("{}")
    assert [relative for relative, _ in vault.canvases()] == ["ok.canvas"]


def _read_in_thread(read: Callable[[], Any], fifo: Path) -> BaseException | None:
    """Run `read`; if it blocks (in open() of a FIFO), unblock it with a writer and fail."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            read()
            outcome.append(None)
        except BaseException as exc:  # handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)  # a bound on a hang, not a speed requirement
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join()
        pytest.fail("reading the FIFO blocked")
    return outcome[0]


@pytest.mark.parametrize("cached", [True, False])
def test_a_fifo_named_canvas_is_refused_without_blocking(tmp_path: Path, make_engine: Callable[..., CanvasEngine],
                                                         cached: bool) -> None:
    engine = make_engine(read_cache={"enabled": cached})
    fifo = tmp_path / "f.canvas"
    os.mkfifo(fifo)
    for parse in (True, False):
        error = _read_in_thread(lambda p=parse: engine.read(fifo, parse=p), fifo)
        assert isinstance(error, CanvasPathError) and "not a regular file" in str(error)
    with pytest.raises(CanvasPathError):
        engine.apply(fifo, Replace({"nodes": [NODE], "edges": []}), timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_replace_file_never_replaces_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "f.canvas"
    os.mkfifo(fifo)
    with pytest.raises(CanvasPathError, match="not a regular file"):
        replace_file(fifo, b"{}", fsync=False)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["f.canvas"]


def test_a_canvas_with_the_longest_name_is_written_atomically(tmp_path: Path, engine: CanvasEngine) -> None:
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    path = tmp_path / ("名" * ((name_max - len(".canvas")) // 3) + ".canvas")
    assert len(temp_name(path.name).encode()) < name_max
    result = engine.apply(path, Replace({"nodes": [NODE], "edges": []}), timeout=30)
    assert result.created and json.loads(path.read_bytes())["nodes"] == [NODE]
    assert os.listdir(tmp_path) == [path.name]  # no temp file left


def test_writes_through_a_symlink_loop_are_refused(tmp_path: Path, engine: CanvasEngine) -> None:
    os.symlink("loop.canvas", tmp_path / "loop.canvas")
    with pytest.raises(CanvasPathError, match="loop"):
        engine.apply(tmp_path / "loop.canvas", Replace({"nodes": [], "edges": []}), timeout=30)
    assert os.readlink(tmp_path / "loop.canvas") == "loop.canvas"


# ------------------------------------------------------------------------------- nesting


def test_depth_is_measured_without_recursion() -> None:
    assert not exceeds_depth({"a": [1, {"b": []}]}, 4) and exceeds_depth({"a": [1, {"b": []}]}, 3)
    assert exceeds_depth(_nested_value(100_000), MAX_DEPTH)
    assert not exceeds_depth(_nested_value(MAX_DEPTH), MAX_DEPTH) and not exceeds_depth("[[[", 1)
    text = '{"a": "[[[[", "b": [[[]]]}'
    assert deeper_than(text, 3) == text.index("[[[]") + 2 and deeper_than(text, 4) == 0


@pytest.mark.parametrize("json_engine", ["orjson", "json"])
def test_a_canvas_nested_beyond_every_parser_is_reported_not_crashed_on(
        write_canvas: Callable[[str, str], Path], make_engine: Callable[..., CanvasEngine], json_engine: str) -> None:
    engine = make_engine(json_engine=json_engine, batch_writer={"window_ms": 5, "max_delay_ms": 20})
    text = _deep_canvas(50_000)
    path = write_canvas("deep.canvas", text)
    with pytest.raises(CanvasTooDeepError) as caught:
        engine.read(path)
    extra = text.index('"extra":') + len('"extra":')  # its arrays open levels 4, 5, ...
    assert caught.value.line == 1 and caught.value.column == extra + (MAX_DEPTH - 3) + 1
    assert caught.value.details()["limit"] == MAX_DEPTH and caught.value.status == 422
    snapshot = engine.read(path, parse=False)  # the bytes and the version are still there (the watcher needs them)
    assert snapshot.raw == text.encode()
    with pytest.raises(CanvasTooDeepError):
        engine.apply(path, Patch([{"op": "update_node", "id": "a", "set": {"color": "1"}}]), timeout=30)
    assert path.read_text() == text
    assert engine.metrics.value("canvasd_optimization_fallbacks_total", optimization="batch_writer") == 0


@pytest.mark.parametrize("json_engine", ["orjson", "json"])
def test_a_deep_canvas_the_parsers_read_can_be_patched_keeping_its_bytes(
        write_canvas: Callable[[str, str], Path], make_engine: Callable[..., CanvasEngine], json_engine: str) -> None:
    engine = make_engine(json_engine=json_engine, batch_writer={"window_ms": 5, "max_delay_ms": 20})
    text = _deep_canvas(1200)  # deeper than recursion in Python reaches, not deeper than the C parsers
    path = write_canvas("deep.canvas", cf.obsidian(json.loads(text)))
    before = path.read_text()
    engine.apply(path, Patch([{"op": "update_node", "id": "a", "set": {"color": "4"}}]), timeout=30)
    after = path.read_text()
    assert json.loads(after)["nodes"][0]["color"] == "4"
    assert "[" * 1200 + "]" * 1200 in after and len(after) == len(before) + len(',"color":"4"')
    engine.apply(path, Replace({"nodes": [{**NODE, "extra": _nested_value(1200)}], "edges": []}), timeout=30)
    assert json.loads(path.read_text())["nodes"][0] == {**NODE, "extra": _nested_value(1200)}


def test_ops_nested_too_deep_are_refused_when_the_patch_is_made() -> None:
    for depth in (MAX_DEPTH, 5000):
        with pytest.raises(OpFormatError) as caught:
            Patch([{"op": "update_node", "id": "a", "set": {"extra": _nested_value(depth)}}])
        assert [p.code for p in caught.value.problems] == ["too_deep"]
    Patch([{"op": "update_node", "id": "a", "set": {"extra": _nested_value(MAX_DEPTH - 10)}}])


def test_a_document_too_deep_to_render_fails_alone_and_the_writer_goes_on(
        write_canvas: Callable[[str, str], Path], make_engine: Callable[..., CanvasEngine]) -> None:
    engine = make_engine(batch_writer={"window_ms": 200, "max_delay_ms": 1000})
    path = write_canvas("c.canvas", cf.obsidian({"nodes": [NODE], "edges": []}))
    deep = engine.submit(path, Replace({"nodes": [{**NODE, "extra": _nested_value(5000)}], "edges": []}))
    fine = engine.submit(path, Patch([{"op": "update_node", "id": "a", "set": {"color": "2"}}]))
    engine.flush(timeout=30)
    with pytest.raises(BodyTooDeepError):
        deep.result(timeout=30)
    assert fine.result(timeout=30).written
    assert json.loads(path.read_text())["nodes"] == [{**NODE, "color": "2"}]
    assert engine.metrics.value("canvasd_optimization_fallbacks_total", optimization="batch_writer") == 0
