"""Op semantics and validation (canvas/ops.py, canvas/working.py, canvas/model.py) through the engine."""

from __future__ import annotations

import json

import pytest

from canvasd.canvas import Patch, Replace
from canvasd.canvas.model import document_problems
from canvasd.errors import CanvasNotFoundError, CanvasValidationError, OpFormatError
from tests.support import canvas_factory as cf

TEXT = {"type": "text", "text": "t", "x": 0, "y": 0, "width": 10, "height": 10}


def _doc(path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture
def canvas(write_canvas):
    return write_canvas("c.canvas", cf.obsidian(cf.learning_doc()))


def test_op_format_errors_name_every_bad_op() -> None:
    with pytest.raises(OpFormatError) as err:
        Patch([{"op": "frobnicate"}, {"op": "update_node", "id": "a"}, {"op": "remove_edge"},
               {"op": "update_node", "id": "a", "set": {"id": "b"}}, "nope",
               {"op": "add_node", "node": {}, "extra": 1}])
    messages = [p.message for p in err.value.problems]
    assert len(messages) == 6
    assert messages[0].startswith("op 0: unknown op 'frobnicate'")
    assert "needs 'set' or 'unset'" in messages[1]
    assert "needs 'id'" in messages[2]
    assert "'id' cannot change" in messages[3]
    assert "must be a JSON object" in messages[4]
    assert "does not take 'extra'" in messages[5]
    with pytest.raises(OpFormatError):
        Patch([])
    with pytest.raises(OpFormatError):
        Patch({"op": "add_node"})  # type: ignore[arg-type]


def test_patches_are_private_copies_of_json(canvas, engine) -> None:
    node = {"id": "mine", **TEXT}
    request = Patch([{"op": "add_node", "node": node}])
    node["text"] = "changed after submitting"
    engine.apply(canvas, request)
    assert _doc(canvas)["nodes"][-1]["text"] == "t"
    assert engine.read(canvas).document["nodes"][-1]["text"] == "t"
    for bad in (float("nan"), {1, 2}, object()):
        with pytest.raises(OpFormatError, match="must be JSON values"):
            Patch([{"op": "update_node", "id": "mine", "set": {"score": bad}}])


def test_new_nodes_are_validated_strictly_before_queueing() -> None:
    with pytest.raises(CanvasValidationError) as err:
        Patch([{"op": "add_node", "node": {"id": "a", "type": "text", "x": 0, "y": "1", "width": 0,
                                           "height": 5, "color": "7"}},
               {"op": "add_node", "node": {"id": "b", "type": "hologram", "x": 0, "y": 0, "width": 1, "height": 1}},
               {"op": "add_edge", "edge": {"id": "e", "fromNode": "a", "toNode": "b", "fromSide": "up",
                                           "toEnd": "diamond"}}])
    got = {(p.id, p.field, p.code) for p in err.value.problems}
    assert got == {("a", "text", "missing_field"), ("a", "y", "bad_value"), ("a", "width", "bad_value"),
                   ("a", "color", "bad_color"), ("b", "type", "unknown_type"), ("e", "fromSide", "bad_value"),
                   ("e", "toEnd", "bad_value")}
    assert "node 'a': colour '7' is not '1'..'6' or '#rrggbb'" in str(err.value)


def test_add_update_remove_round(canvas, engine) -> None:
    engine.apply(canvas, Patch([
        {"op": "add_node", "node": {"id": "n1", **TEXT}},
        {"op": "add_edge", "edge": {"id": "en", "fromNode": "n1", "toNode": "g1", "label": "属于"}},
        {"op": "update_node", "id": "n1", "set": {"color": "#A882FF", "text": "updated"}},
        {"op": "update_edge", "id": "en", "set": {"toEnd": "arrow"}, "unset": ["label"]},
    ]))
    doc = _doc(canvas)
    assert doc["nodes"][-1] == {"id": "n1", **TEXT, "text": "updated", "color": "#A882FF"}
    assert doc["edges"][-1] == {"id": "en", "fromNode": "n1", "toNode": "g1", "toEnd": "arrow"}
    first = cf.node(0)["id"]
    engine.apply(canvas, Patch([{"op": "remove_node", "id": first}]))
    doc = _doc(canvas)
    assert first not in {n["id"] for n in doc["nodes"]}
    assert not [e for e in doc["edges"] if first in (e["fromNode"], e["toNode"])]
    engine.apply(canvas, Patch([{"op": "remove_edge", "id": "en"}]))
    assert "en" not in {e["id"] for e in _doc(canvas)["edges"]}


def test_ops_are_all_or_nothing(canvas, engine) -> None:
    before = canvas.read_bytes()
    with pytest.raises(CanvasValidationError) as err:
        engine.apply(canvas, Patch([
            {"op": "add_node", "node": {"id": "ok", **TEXT}},
            {"op": "update_node", "id": "missing", "set": {"color": "1"}},
            {"op": "add_edge", "edge": {"id": "e9", "fromNode": "ok", "toNode": "nowhere"}},
            {"op": "add_node", "node": {"id": "g1", **TEXT}},
            {"op": "update_node", "id": "f1", "unset": ["file"]},
        ]))
    got = [(p.code, p.id) for p in err.value.problems]
    assert got == [("not_found", "missing"), ("dangling_edge", "e9"), ("duplicate_id", "g1"),
                   ("missing_field", "f1")]
    assert canvas.read_bytes() == before
    assert engine.metrics.value("canvasd_canvas_physical_writes_total") == 0


def test_update_validates_only_what_it_changes(write_canvas, engine) -> None:
    # A node with an existing problem (no width) can still be recoloured; the problem is kept, not repaired.
    broken = {"id": "b", "type": "text", "text": "t", "x": 0, "y": 0, "height": 10}
    path = write_canvas("b.canvas", cf.obsidian({"nodes": [broken], "edges": []}))
    engine.apply(path, Patch([{"op": "update_node", "id": "b", "set": {"color": "4"}}]))
    assert _doc(path)["nodes"] == [{**broken, "color": "4"}]
    with pytest.raises(CanvasValidationError):
        engine.apply(path, Patch([{"op": "update_node", "id": "b", "set": {"type": "file"}}]))  # file needs 'file'
    with pytest.raises(CanvasValidationError):
        engine.apply(path, Patch([{"op": "update_node", "id": "b", "unset": ["x"]}]))


def test_problems_in_the_file_are_kept_and_reported(write_canvas, engine) -> None:
    path = write_canvas("d.canvas", cf.variants()["duplicate_ids"])
    problems = engine.read(path).problems
    assert [(p.code, p.id) for p in problems] == [("duplicate_id", cf.node(1)["id"])]
    with pytest.raises(CanvasValidationError) as err:
        engine.apply(path, Patch([{"op": "update_node", "id": cf.node(1)["id"], "set": {"color": "1"}}]))
    assert err.value.problems[0].code == "ambiguous_id"
    engine.apply(path, Patch([{"op": "update_node", "id": cf.node(0)["id"], "set": {"color": "1"}}]))
    assert [n["id"] for n in _doc(path)["nodes"]].count(cf.node(1)["id"]) == 2

    dangling = write_canvas("e.canvas", cf.variants()["dangling_edges"])
    assert [p.code for p in engine.read(dangling).problems] == ["dangling_edge"]
    engine.apply(dangling, Patch([{"op": "update_node", "id": cf.node(0)["id"], "set": {"x": 5}}]))
    assert len(_doc(dangling)["edges"]) == 1


def test_non_string_ids_in_the_file_are_reported_and_worked_around(write_canvas, engine) -> None:
    odd = [{"id": [1], "type": "text", "text": "a", "x": 0, "y": 0, "width": 1, "height": 1},
           {"id": {"k": 2}, "type": "text", "text": "b", "x": 0, "y": 0, "width": 1, "height": 1}]
    path = write_canvas("odd.canvas", cf.obsidian({"nodes": [*odd, cf.node(0)], "edges": []}))
    assert {p.field for p in engine.read(path).problems} == {"id"}
    engine.apply(path, Patch([{"op": "update_node", "id": cf.node(0)["id"], "set": {"color": "4"}},
                              {"op": "add_node", "node": {"id": "new", **TEXT}}]))
    doc = _doc(path)
    assert doc["nodes"][:2] == odd and doc["nodes"][2]["color"] == "4" and doc["nodes"][3]["id"] == "new"
    doc["nodes"][3]["text"] = "replaced"
    engine.apply(path, Replace(doc))  # a replace renders against the same odd items
    assert _doc(path) == doc


def test_replace_refuses_only_problems_it_introduces(write_canvas, engine) -> None:
    path = write_canvas("d.canvas", cf.variants()["dangling_edges"])
    doc = json.loads(path.read_text())
    doc["nodes"][0]["text"] = "edited"
    engine.apply(path, Replace(doc))  # the dangling edge was already there: kept
    assert _doc(path) == doc
    bad = json.loads(json.dumps(doc))
    bad["nodes"].append({"id": "z", "type": "text", "text": "t", "x": 0, "y": 0, "width": 1, "height": 1,
                         "color": "red"})
    bad["edges"].append({"id": "e2", "fromNode": "z", "toNode": "ghost"})
    with pytest.raises(CanvasValidationError) as err:
        engine.apply(path, Replace(bad))
    assert {(p.code, p.id) for p in err.value.problems} == {("bad_color", "z"), ("dangling_edge", "e2")}
    with pytest.raises(CanvasValidationError):
        engine.apply(path, Replace([1, 2]))  # type: ignore[arg-type]
    assert _doc(path) == doc


def test_patch_of_missing_canvas_is_not_found(tmp_path, engine) -> None:
    with pytest.raises(CanvasNotFoundError):
        engine.apply(tmp_path / "nope.canvas", Patch([{"op": "remove_node", "id": "a"}]))
    assert not (tmp_path / "nope.canvas").exists()


def test_ops_on_a_non_array_nodes_key_are_refused(write_canvas, engine) -> None:
    path = write_canvas("n.canvas", '{"nodes": null, "edges": []}')
    with pytest.raises(CanvasValidationError) as err:
        engine.apply(path, Patch([{"op": "add_node", "node": {"id": "a", **TEXT}}]))
    assert "'nodes' is not an array" in str(err.value)
    assert path.read_text() == '{"nodes": null, "edges": []}'


def test_document_problems_cover_every_kind() -> None:
    doc = {"nodes": [{"id": "a", "type": "text", "text": "t", "x": 0, "y": 0, "width": 1, "height": 1},
                     {"id": "a", "type": "link", "x": 0, "y": 0, "width": 1, "height": 1},
                     "not an object"],
           "edges": [{"id": "e", "fromNode": "a", "toNode": "b", "color": "9"}]}
    codes = sorted(p.code for p in document_problems(doc))
    assert codes == ["bad_color", "dangling_edge", "duplicate_id", "missing_field", "not_object"]
    assert document_problems({"nodes": {}, "edges": []})[0].code == "not_array"
