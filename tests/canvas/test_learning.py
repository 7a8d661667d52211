"""Learning states by colour (canvas/learning.py) through the engine."""

from __future__ import annotations

from tests.support import canvas_factory as cf


def test_nodes_are_grouped_by_learning_state(write_canvas, engine) -> None:
    path = write_canvas("l.canvas", cf.obsidian(cf.learning_doc()))
    groups = engine.nodes_by_state(path)
    ids = {state: [n["id"] for n in nodes] for state, nodes in groups.items()}
    assert ids == {
        "not_understood": [cf.node(0)["id"]],
        "partly_understood": [cf.node(1)["id"]],
        "mastered": [cf.node(2)["id"]],
        "own_explanation": [cf.node(3)["id"]],
        "unmarked": [cf.node(4)["id"], cf.node(5)["id"], "g1", "f1", "l1"],
    }


def test_states_come_from_settings_including_custom_hex_colours(write_canvas, make_engine) -> None:
    engine = make_engine(learning_states={"#A882FF": "review", "1": "not_understood"})
    path = write_canvas("l.canvas", cf.obsidian(cf.learning_doc()))
    groups = engine.nodes_by_state(path)
    assert list(groups) == ["review", "not_understood", "unmarked"]
    assert [n["id"] for n in groups["review"]] == [cf.node(5)["id"]]
    assert len(groups["unmarked"]) == 7
