"""Cached reads (canvas/store.py) and parsing (canvas/codec.py) on real files."""

from __future__ import annotations

import json
import os
import time

import pytest

from canvasd.errors import CanvasNotFoundError, CanvasParseError, CanvasPathError
from tests.support import canvas_factory as cf


def _m(engine, name: str, **labels: str) -> float:
    return engine.metrics.value(name, **labels)


def _age(path, seconds: float = 5.0) -> None:
    """Give a file an mtime in the past, as a canvas not edited in the last moments has."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_repeated_reads_hit_the_cache_without_disk_reads(write_canvas, engine) -> None:
    path = write_canvas("a.canvas", cf.obsidian(cf.learning_doc()))
    _age(path)
    first = engine.read(path)
    reads = _m(engine, "canvasd_canvas_disk_reads_total")
    for _ in range(50):
        again = engine.read(path)
        assert again is first
    assert _m(engine, "canvasd_canvas_disk_reads_total") == reads
    assert _m(engine, "canvasd_read_cache_hits_total") == 50
    assert _m(engine, "canvasd_read_cache_misses_total") == 1
    assert _m(engine, "canvasd_canvas_parses_total") == 1
    assert first.document == json.loads(path.read_bytes())


def test_an_edit_by_another_program_is_seen_on_the_next_read(write_canvas, engine) -> None:
    path = write_canvas("a.canvas", cf.obsidian(cf.learning_doc()))
    _age(path)
    old = engine.read(path)
    doc = cf.learning_doc()
    doc["nodes"][0]["color"] = "4"
    path.write_text(cf.obsidian(doc))
    new = engine.read(path)
    assert new.document == doc and new.version != old.version


def test_same_size_edit_in_the_same_clock_tick_is_not_served_stale(write_canvas, make_engine) -> None:
    """The racy case: content changes but (mtime, size, inode) are forced identical."""
    engine = make_engine(read_cache={"mtime_granularity_ms": 60_000})
    path = write_canvas("a.canvas", '{"nodes":[],"edges":[],"k":"aaaa"}')
    st = path.stat()
    assert engine.read(path).document["k"] == "aaaa"
    with open(path, "r+b") as f:  # in place, as Obsidian's writeFile does: same inode, same size
        f.write(b'{"nodes":[],"edges":[],"k":"bbbb"}')
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino
    assert engine.read(path).document["k"] == "bbbb"
    assert engine.read(path).document["k"] == "bbbb"
    assert _m(engine, "canvasd_read_cache_revalidations_total") >= 1


def test_cache_is_bounded_by_entries_and_bytes(write_canvas, make_engine) -> None:
    engine = make_engine(read_cache={"max_entries": 3})
    paths = [write_canvas(f"{i}.canvas", cf.obsidian(cf.learning_doc())) for i in range(5)]
    for p in paths:
        _age(p)
        engine.read(p)
    assert _m(engine, "canvasd_read_cache_entries") == 3
    assert _m(engine, "canvasd_read_cache_evictions_total") == 2
    engine.read(paths[0])  # evicted earlier: a miss
    assert _m(engine, "canvasd_read_cache_misses_total") == 6

    size = paths[0].stat().st_size
    small = make_engine(read_cache={"max_bytes": size * 12})  # room for about two parsed entries
    for p in paths:
        small.read(p)
    assert _m(small, "canvasd_read_cache_bytes") <= size * 12
    assert 1 <= _m(small, "canvasd_read_cache_entries") <= 2
    assert _m(small, "canvasd_read_cache_evictions_total") >= 3


def test_entries_expire_after_ttl(write_canvas, make_engine) -> None:
    engine = make_engine(read_cache={"ttl_seconds": 0.05})
    path = write_canvas("a.canvas", cf.obsidian(cf.learning_doc()))
    _age(path)
    engine.read(path)
    time.sleep(0.1)
    engine.store.expire()
    assert _m(engine, "canvasd_read_cache_entries") == 0
    engine.read(path)
    assert _m(engine, "canvasd_read_cache_misses_total") == 2


def test_plain_path_reads_the_disk_every_time(write_canvas, make_engine) -> None:
    engine = make_engine(read_cache={"enabled": False}, json_engine="json")
    path = write_canvas("a.canvas", cf.obsidian(cf.learning_doc()))
    docs = [engine.read(path).document for _ in range(3)]
    assert _m(engine, "canvasd_canvas_disk_reads_total") == 3
    assert docs[0] == docs[2] == json.loads(path.read_bytes())


def test_unparsed_read_returns_bytes_and_version_without_parsing(write_canvas, engine) -> None:
    path = write_canvas("a.canvas", cf.INVALID["trailing_comma_in_nodes"][0])
    snapshot = engine.read(path, parse=False)
    assert snapshot.raw == path.read_bytes() and len(snapshot.version) == 32
    with pytest.raises(CanvasParseError):
        snapshot.document  # noqa: B018


def test_missing_deleted_and_non_file_paths(write_canvas, engine, tmp_path) -> None:
    with pytest.raises(CanvasNotFoundError):
        engine.read(tmp_path / "missing.canvas")
    path = write_canvas("a.canvas", "{}")
    engine.read(path)
    path.unlink()
    with pytest.raises(CanvasNotFoundError):
        engine.read(path)
    (tmp_path / "dir.canvas").mkdir()
    with pytest.raises(CanvasPathError):
        engine.read(tmp_path / "dir.canvas")


@pytest.mark.parametrize("json_engine", ["orjson", "json"])
def test_both_parsers_read_bom_crlf_empty_and_report_errors_alike(write_canvas, make_engine, json_engine) -> None:
    engine = make_engine(json_engine=json_engine, read_cache={"enabled": False})
    for name in ("obsidian_bom", "pretty2_bom_crlf", "obsidian_crlf"):
        path = write_canvas(f"{name}.canvas", cf.variants()[name])
        assert engine.read(path).document == cf.learning_doc()
    assert engine.read(write_canvas("empty.canvas", b"")).document == {}
    assert engine.read(write_canvas("blank.canvas", b" \n")).document == {}
    with pytest.raises(CanvasParseError) as err:
        engine.read(write_canvas("latin1.canvas", b'{"nodes":[],\n"x":"caf\xe9"}'))
    assert (err.value.line, err.value.column, err.value.reason) == (2, 9, "the file is not UTF-8 text")
    with pytest.raises(CanvasParseError) as err:
        engine.read(write_canvas("arr.canvas", b"[1]"))
    assert "must be a JSON object" in err.value.reason
    text, line, column, reason = cf.INVALID["trailing_comma_in_nodes"]
    with pytest.raises(CanvasParseError) as err:
        engine.read(write_canvas("tc.canvas", text))
    assert (err.value.line, err.value.column, err.value.reason) == (line, column, reason)


def test_orjson_refusal_of_valid_json_falls_back_to_the_plain_parser(write_canvas, engine) -> None:
    # A lone surrogate escape is valid JSON text that orjson refuses.
    path = write_canvas("surrogate.canvas", '{"nodes":[],"edges":[],"note":"half \\ud83d pair"}')
    assert engine.read(path).document["note"] == "half \ud83d pair"
    assert _m(engine, "canvasd_optimization_fallbacks_total", optimization="json_engine") == 1


def test_cache_accounts_for_structure_a_refused_write_parsed(write_canvas, make_engine) -> None:
    """A commit that writes nothing still parsed the lossless structure: the byte bound must see it."""
    text = cf.obsidian(cf.big_doc(200_000))
    paths = [write_canvas(f"{i}.canvas", text) for i in range(4)]
    size = paths[0].stat().st_size
    limit = size * 20
    engine = make_engine(read_cache={"max_bytes": limit})
    from canvasd.canvas import Patch
    from canvasd.errors import CanvasValidationError

    for p in paths:
        _age(p)
        engine.read(p)
        before = _m(engine, "canvasd_read_cache_bytes")
        with pytest.raises(CanvasValidationError):
            engine.apply(p, Patch([{"op": "remove_node", "id": "no-such-node"}]))
        assert _m(engine, "canvasd_read_cache_bytes") > before or _m(engine, "canvasd_read_cache_evictions_total")
        assert _m(engine, "canvasd_read_cache_bytes") <= limit
    assert _m(engine, "canvasd_read_cache_evictions_total") >= 2
