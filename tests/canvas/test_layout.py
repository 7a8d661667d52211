"""Lossless round trips and layout-preserving changes (canvas/layout.py), on the real corpus and generated files."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from canvasd.canvas import Patch, Replace
from canvasd.canvas.layout import CanvasText, LayoutParseError
from canvasd.errors import CanvasParseError
from tests.support import canvas_factory as cf
from tests.support.corpus import CORPUS_REASON, INVALID_CORPUS, corpus_files

VARIANTS = cf.variants()
VALID_CORPUS = [p for p in corpus_files() if p.name not in INVALID_CORPUS]


def _fresh_copy(document: dict) -> dict:
    """An equal document made of new objects, as a client's PUT body would be."""
    return json.loads(json.dumps(document))


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


# --------------------------------------------------------------------------------------- round trips

@pytest.mark.skipif(not VALID_CORPUS, reason=CORPUS_REASON)
@pytest.mark.parametrize("src", VALID_CORPUS, ids=lambda p: p.name[:60])
def test_corpus_file_round_trips_byte_for_byte(src: Path, copy_corpus, engine) -> None:
    path = copy_corpus(src)
    original = src.read_bytes()
    text = CanvasText.parse(original.decode())
    assert text.render(_fresh_copy(text.document)).text.encode() == original
    snapshot = engine.read(path)
    assert snapshot.document == json.loads(original)
    result = engine.apply(path, Replace(_fresh_copy(snapshot.document)))
    assert not result.written
    assert path.read_bytes() == original
    assert engine.metrics.value("canvasd_canvas_physical_writes_total") == 0


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_generated_variant_round_trips_byte_for_byte(name: str, write_canvas, engine) -> None:
    original = VARIANTS[name]
    path = write_canvas(f"{name}.canvas", original)
    text = CanvasText.parse(original)
    assert text.render(_fresh_copy(text.document)).text == original
    result = engine.apply(path, Replace(_fresh_copy(engine.read(path).document)))
    assert not result.written
    assert path.read_bytes() == original.encode()


@pytest.mark.skipif(not VALID_CORPUS, reason=CORPUS_REASON)
@pytest.mark.parametrize("src", [p for p in VALID_CORPUS if json.loads(p.read_bytes()).get("nodes")],
                         ids=lambda p: p.name[:60])
def test_corpus_recolour_changes_only_that_node(src: Path, copy_corpus, engine) -> None:
    path = copy_corpus(src)
    before = path.read_text(encoding="utf-8")
    doc = json.loads(before)
    target = doc["nodes"][len(doc["nodes"]) // 2]
    engine.apply(path, Patch([{"op": "update_node", "id": target["id"], "set": {"color": "4"}}]))
    after = path.read_text(encoding="utf-8")
    new_doc = json.loads(after)
    expected = json.loads(before)
    expected["nodes"][len(doc["nodes"]) // 2]["color"] = "4"
    assert new_doc == expected
    assert list(new_doc) == list(doc), "top-level key order changed"
    changed = _changed_lines(before, after)
    if "\n\t\t{" in before and before.count("\n") < len(doc["nodes"]) * 3:  # Obsidian one-object-per-line
        assert len(changed) == 2, changed
    else:
        assert all('"color"' in line or target["id"] in line or line.strip("+- ") in ("", "}", "},")
                   or "height" in line or "label" in line for line in changed), changed


@pytest.mark.skipif(not any(p.name in INVALID_CORPUS for p in corpus_files()), reason=CORPUS_REASON)
def test_invalid_corpus_file_reports_position_and_is_never_rewritten(copy_corpus, engine) -> None:
    src = next(p for p in corpus_files() if p.name in INVALID_CORPUS)
    path = copy_corpus(src)
    with pytest.raises(CanvasParseError) as err:
        engine.read(path)
    assert (err.value.line, err.value.column, err.value.reason) == (103, 3, "trailing comma")
    assert src.name in str(err.value) and "left untouched" in str(err.value)
    with pytest.raises(CanvasParseError):
        engine.apply(path, Patch([{"op": "remove_node", "id": "x"}]))
    with pytest.raises(CanvasParseError):
        engine.apply(path, Replace({"nodes": [], "edges": []}))
    assert path.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", sorted(cf.INVALID))
def test_invalid_text_reports_line_column_reason(name: str, write_canvas, engine) -> None:
    text, line, column, reason = cf.INVALID[name]
    with pytest.raises(LayoutParseError) as err:
        CanvasText.parse(text)
    assert (err.value.line, err.value.column, err.value.reason) == (line, column, reason)
    path = write_canvas(f"{name}.canvas", text)
    with pytest.raises(CanvasParseError) as err2:
        engine.apply(path, Patch([{"op": "remove_node", "id": "a"}]))
    assert (err2.value.line, err2.value.column) == (line, column)
    assert path.read_text() == text


# ---------------------------------------------------------------------------------- layout of changes

NEW_NODE = {"id": "new1", "type": "text", "text": "新节点 new", "x": 1, "y": 2, "width": 250, "height": 60}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_changes_keep_layout_unknown_keys_and_order(name: str, write_canvas, engine) -> None:
    original = VARIANTS[name]
    path = write_canvas(f"{name}.canvas", original)
    doc = json.loads(original.lstrip(cf.BOM))
    nodes = doc.get("nodes", [])
    ops: list[dict] = [{"op": "add_node", "node": NEW_NODE}]
    if nodes and len({n["id"] for n in nodes}) == len(nodes):
        ops.append({"op": "update_node", "id": nodes[0]["id"], "set": {"color": "6"}})
    engine.apply(path, Patch(ops))
    after = path.read_bytes().decode()
    new_doc = json.loads(after.lstrip(cf.BOM))
    # semantics: exactly the requested change
    expected = json.loads(original.lstrip(cf.BOM))
    expected.setdefault("nodes", []).append(NEW_NODE)
    if len(ops) == 2:
        expected["nodes"][0]["color"] = "6"
    assert new_doc == expected
    assert [list(n) for n in new_doc["nodes"][:-1]] == [list(n) for n in expected["nodes"][:-1]], "key order"
    # form: BOM, line endings and final newline as they were
    assert after.startswith(cf.BOM) == original.startswith(cf.BOM)
    if "\r\n" in original:
        assert after.count("\n") == after.count("\r\n")
    else:
        assert "\r" not in after
    assert after.endswith("\n") == original.endswith("\n")
    # every node the ops did not touch keeps its exact text
    for n in nodes[1:]:
        if "\n" not in json.dumps(n):
            assert json.dumps(n["id"]) in after


def test_obsidian_layout_change_alters_only_that_line(write_canvas, engine) -> None:
    original = VARIANTS["obsidian"]
    path = write_canvas("a.canvas", original)
    node_id = json.loads(original)["nodes"][2]["id"]
    engine.apply(path, Patch([{"op": "update_node", "id": node_id, "set": {"x": 999}, "unset": ["color"]}]))
    after = path.read_text()
    changed = _changed_lines(original, after)
    assert len(changed) == 2 and all(node_id in line for line in changed)
    assert '"x":999' in after


def test_pretty_layout_change_alters_only_the_changed_member(write_canvas, engine) -> None:
    original = VARIANTS["pretty2"]
    path = write_canvas("a.canvas", original)
    node_id = json.loads(original)["nodes"][1]["id"]
    engine.apply(path, Patch([{"op": "update_node", "id": node_id, "set": {"color": "4"}}]))
    changed = _changed_lines(original, path.read_text())
    assert changed == ['-       "color": "6"', '+       "color": "4"']


def test_untouched_members_keep_their_escapes(write_canvas, engine) -> None:
    original = VARIANTS["escapes_verbatim"]
    path = write_canvas("a.canvas", original)
    engine.apply(path, Patch([{"op": "update_node", "id": "a", "set": {"color": "1"}}]))
    after = path.read_text()
    assert '"text":"\\u4f60\\u597d \\/ \\"q\\" \\t"' in after
    assert after.replace(',"color":"1"}', "}") == original


def test_new_nodes_follow_sibling_format(write_canvas, engine) -> None:
    for name, marker in (("obsidian", '\n\t\t{"id":"new1","type":"text"'),
                         ("pretty2", '\n    {\n      "id": "new1",\n      "type": "text",'),
                         ("tabs_multiline", '\n\t\t{\n\t\t\t"id":"new1",\n\t\t\t"type":"text",'),
                         ("minified", ',{"id":"new1","type":"text",')):
        path = write_canvas(f"{name}.canvas", VARIANTS[name])
        engine.apply(path, Patch([{"op": "add_node", "node": NEW_NODE}]))
        assert marker in path.read_text(), name


def test_new_canvas_is_written_in_obsidian_layout(tmp_path: Path, engine) -> None:
    path = tmp_path / "new.canvas"
    doc = {"nodes": [NEW_NODE, {**NEW_NODE, "id": "new2", "color": "1"}],
           "edges": [{"id": "e1", "fromNode": "new1", "toNode": "new2", "label": "推出"}]}
    result = engine.apply(path, Replace(doc))
    assert result.created and result.written
    assert path.read_text() == cf.obsidian(doc)


def test_empty_arrays_and_missing_keys_gain_items_in_the_files_style(write_canvas, engine) -> None:
    cases = {
        "empty_arrays_tabs": '{\n\t"nodes":[\n\t\t' + json.dumps(NEW_NODE, separators=(",", ":"),
                                                              ensure_ascii=False) + '\n\t],\n\t"edges":[]\n}',
        "empty_object": '{\n\t"nodes":[\n\t\t' + json.dumps(NEW_NODE, separators=(",", ":"),
                                                         ensure_ascii=False) + "\n\t]\n}",
        "only_unknown_key": '{\n  "someOtherField": "value",\n  "nodes": [\n    {\n      "id": "new1",\n      '
                            '"type": "text",\n      "text": "新节点 new",\n      "x": 1,\n      "y": 2,\n      '
                            '"width": 250,\n      "height": 60\n    }\n  ]\n}\n',
    }
    for name, expected in cases.items():
        path = write_canvas(f"{name}.canvas", VARIANTS[name])
        engine.apply(path, Patch([{"op": "add_node", "node": NEW_NODE}]))
        assert path.read_text() == expected, name


def test_removing_first_and_last_items_keeps_valid_separators(write_canvas, engine) -> None:
    for name in ("obsidian", "pretty2", "minified", "whitespace_oddities", "obsidian_crlf"):
        original = VARIANTS[name]
        path = write_canvas(f"{name}.canvas", original)
        doc = json.loads(original)
        ids = [n["id"] for n in doc["nodes"]]
        ends = list(dict.fromkeys([ids[0], ids[-1]]))
        engine.apply(path, Patch([{"op": "remove_node", "id": i} for i in ends]))
        after = json.loads(path.read_text())
        assert [n["id"] for n in after["nodes"]] == ids[1:-1], name
        if name == "obsidian":
            assert path.read_text() == cf.obsidian({"nodes": doc["nodes"][1:-1], "edges": [
                e for e in doc["edges"] if not {ids[0], ids[-1]} & {e["fromNode"], e["toNode"]}]})
        if ids[1:-1]:
            engine.apply(path, Patch([{"op": "remove_node", "id": i} for i in ids[1:-1]]))
        assert json.loads(path.read_text())["nodes"] == []


def test_replace_keeps_bytes_of_objects_it_does_not_change(write_canvas, engine) -> None:
    original = VARIANTS["pretty2"]
    path = write_canvas("a.canvas", original)
    doc = json.loads(original)
    doc["nodes"][0]["text"] = "changed 已修改"
    engine.apply(path, Replace(doc))
    changed = _changed_lines(original, path.read_text())
    assert len(changed) == 2 and "changed 已修改" in changed[1]


def test_big_canvas_round_trips_and_patches(write_canvas, engine) -> None:
    original = cf.obsidian(cf.big_doc(10 * 1024 * 1024))
    path = write_canvas("big.canvas", original)
    assert CanvasText.parse(original).render(_fresh_copy(json.loads(original))).text == original
    doc = json.loads(original)
    target = doc["nodes"][1234]
    color = "1" if target["color"] != "1" else "6"
    engine.apply(path, Patch([{"op": "update_node", "id": target["id"], "set": {"color": color}}]))
    after = path.read_text()
    before_lines, after_lines = original.splitlines(), after.splitlines()
    assert len(before_lines) == len(after_lines)
    changed = [(a, b) for a, b in zip(before_lines, after_lines, strict=True) if a != b]
    assert len(changed) == 1 and target["id"] in changed[0][1] and f'"color":"{color}"' in changed[0][1]
    assert engine.metrics.value("canvasd_canvas_physical_writes_total") == 1
