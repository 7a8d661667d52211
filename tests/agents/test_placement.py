"""Sizing and placing agent-added nodes (agents/placement.py): free space, determinism, text sizes, edge sides."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canvasd.agents.placement import Box, Placer, box_of, sides, text_size
from canvasd.canvas.model import SIDES

GAP = Placer.GAP

# --- strategies ------------------------------------------------------------------------------------------

coords = st.integers(-3000, 3000) | st.floats(-3000, 3000, allow_nan=False)
lengths = st.integers(1, 900) | st.floats(0.5, 900, allow_nan=False)
valid_nodes = st.builds(
    lambda kind, x, y, w, h: {"id": "n", "type": kind, "x": x, "y": y, "width": w, "height": h},
    st.sampled_from(["text", "file", "link"]), coords, coords, lengths, lengths)
groups = st.builds(lambda x, y, w, h: {"id": "g", "type": "group", "x": x, "y": y, "width": w, "height": h},
                   coords, coords, st.integers(200, 2500), st.integers(200, 2500))
bad_values = st.sampled_from([None, "12", True, False, math.nan, math.inf, -math.inf, -5, 0, [1], 2.0**60])
malformed = st.one_of(
    st.sampled_from([None, 3, "node", [], ["x", 1]]),
    st.builds(lambda node, key, value: {**node, key: value}, valid_nodes,
              st.sampled_from(["x", "y", "width", "height"]), bad_values),
    st.builds(lambda node, key: {k: v for k, v in node.items() if k != key}, valid_nodes,
              st.sampled_from(["x", "y", "width", "height"])),
)
canvases = st.lists(st.one_of(valid_nodes, valid_nodes, groups, malformed), max_size=30)
sizes = st.lists(st.tuples(st.integers(1, 600), st.integers(1, 700)), min_size=1, max_size=7)
stacks = st.sampled_from(["column", "row"])


def obstacles(nodes: list[Any]) -> list[Box]:
    return [box for box in (box_of(n) if isinstance(n, dict) else None for n in nodes) if box is not None]


def assert_whole_pixels(boxes: list[Box]) -> None:
    for box in boxes:
        assert all(type(v) is int for v in (box.x, box.y, box.width, box.height)), box
        assert box.width > 0 and box.height > 0


def assert_apart(boxes: list[Box], gap: float = 0) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b, gap), (a, b)


# --- placement properties --------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(nodes=canvases, data=st.data(), first=sizes, second=sizes, stack=stacks)
def test_blocks_land_in_free_space_and_never_on_each_other(nodes, data, first, second, stack) -> None:
    existing = obstacles(nodes)
    source = data.draw(st.sampled_from(existing) if existing and data.draw(st.booleans())
                       else st.builds(Box, coords, coords, lengths, lengths), label="source")
    placer = Placer(nodes)
    assert placer.obstacle_count() == len(existing)

    one = placer.place(source, first, stack=stack)
    two = placer.place(source, second, stack=stack)  # the same agent run again on the same node

    assert [(b.width, b.height) for b in one] == [(math.ceil(w), math.ceil(h)) for w, h in first]
    assert_whole_pixels(one + two)
    for box in one + two:
        assert not any(box.overlaps(other) for other in existing), box
        assert not box.overlaps(source), box
    assert_apart(one + two)
    # stronger than asked: GAP of clear space around every new node
    assert_apart(one + two, GAP - 1)
    assert not any(box.overlaps(other, GAP - 1) for box in one + two for other in existing)
    assert placer.obstacle_count() == len(existing) + len(first) + len(second)


@settings(max_examples=150, deadline=None)
@given(nodes=canvases, order=st.randoms(use_true_random=False), source=st.builds(Box, coords, coords, lengths, lengths),
       block=sizes, stack=stacks)
def test_the_same_canvas_gives_the_same_boxes_whatever_the_order(nodes, order, source, block, stack) -> None:
    shuffled = [dict(reversed(n.items())) if isinstance(n, dict) else n for n in nodes]  # other key order too
    order.shuffle(shuffled)
    runs = []
    for canvas in (nodes, nodes, shuffled):
        placer = Placer(canvas)
        runs.append([placer.place(source, block, stack=stack), placer.place(source, block[::-1], stack=stack)])
    assert runs[0] == runs[1] == runs[2]


# --- placement examples ----------------------------------------------------------------------------------

SOURCE = Box(0, 0, 300, 100)


def test_on_an_empty_canvas_a_column_goes_right_of_the_source_top_aligned() -> None:
    boxes = Placer([]).place(SOURCE, [(400, 100), (300, 80), (400, 60)])
    assert boxes == [Box(340, 0, 400, 100), Box(340, 140, 300, 80), Box(340, 260, 400, 60)]


def test_a_row_goes_below_the_source_left_aligned() -> None:
    boxes = Placer([]).place(SOURCE, [(250, 60), (300, 90)], stack="row")
    assert boxes == [Box(0, 140, 250, 60), Box(290, 140, 300, 90)]


def node(x: float, y: float, width: float, height: float, **extra: Any) -> dict[str, Any]:
    return {"id": f"n{x},{y}", "type": "text", "text": "", "x": x, "y": y, "width": width, "height": height, **extra}


# walls just long enough to block one side of SOURCE
RIGHT_WALL = node(310, 0, 100, 100)
BELOW_WALL = node(0, 110, 300, 100)
LEFT_WALL = node(-110, 0, 100, 100)
ABOVE_WALL = node(0, -110, 300, 100)


def test_a_source_with_something_on_its_right_gets_the_block_below() -> None:
    boxes = Placer([node(0, 0, 300, 100), RIGHT_WALL]).place(SOURCE, [(200, 60), (200, 60)])
    assert boxes == [Box(0, 140, 200, 60), Box(0, 240, 200, 60)]


def test_then_left_then_above() -> None:
    left = Placer([RIGHT_WALL, BELOW_WALL]).place(SOURCE, [(200, 60), (250, 60)])
    assert left == [Box(-240, 0, 200, 60), Box(-290, 100, 250, 60)]  # narrower nodes keep to the source's side
    above = Placer([RIGHT_WALL, BELOW_WALL, LEFT_WALL]).place(SOURCE, [(200, 60), (250, 40)], stack="row")
    assert above == [Box(0, -100, 200, 60), Box(240, -80, 250, 40)]  # lower nodes keep to the source's side


def test_with_every_side_taken_the_block_moves_outward_past_what_is_in_the_way() -> None:
    ring = [RIGHT_WALL, BELOW_WALL, LEFT_WALL, ABOVE_WALL]
    assert Placer(ring).place(SOURCE, [(200, 60)]) == [Box(450, 0, 200, 60)]  # all sides as near: the right wins
    assert Placer([*ring, node(450, 0, 10, 10)]).place(SOURCE, [(200, 60)]) == [Box(0, 250, 200, 60)]


def test_the_block_stays_close_to_its_source_on_a_big_canvas() -> None:
    far = [node(x, y, 300, 100) for x, y in ((100_000, 0), (-100_000, 0), (0, 100_000), (0, -100_000))]
    columns = [node(310 + 500 * i, 0, 100, 100) for i in range(10)]  # one every 500 px to the right of SOURCE
    ring = [RIGHT_WALL, BELOW_WALL, LEFT_WALL, ABOVE_WALL]
    assert Placer([*ring, *far]).place(SOURCE, [(200, 60)]) == [Box(450, 0, 200, 60)]
    crowded_right = Placer([*columns, BELOW_WALL, LEFT_WALL, ABOVE_WALL, *far])
    assert crowded_right.place(SOURCE, [(300, 60)]) == [Box(450, 0, 300, 60)]  # fits between two columns
    assert crowded_right.place(SOURCE, [(350, 60)]) == [Box(0, 250, 350, 60)]  # does not: below, past the wall


def test_a_second_run_goes_beside_the_first_result_not_on_it() -> None:
    placer = Placer([node(0, 0, 300, 100)])
    first = placer.place(SOURCE, [(400, 100)] * 3)
    second = placer.place(SOURCE, [(400, 100)] * 3)
    assert first[0] == Box(340, 0, 400, 100)
    assert not any(a.overlaps(b, GAP - 1) for a in first for b in second)
    gaps = [second[0].x - SOURCE.right, SOURCE.x - second[0].right, second[0].y - SOURCE.bottom,
            SOURCE.y - second[-1].bottom]
    assert GAP in gaps  # still right next to the source, on another side


def test_a_group_is_an_obstacle_even_where_it_is_empty() -> None:
    group = {"id": "g", "type": "group", "x": -1000, "y": -1000, "width": 3000, "height": 3000}
    boxes = Placer([group, node(0, 0, 300, 100)]).place(SOURCE, [(400, 100)] * 2)
    assert all(not box.overlaps(Box(-1000, -1000, 3000, 3000)) for box in boxes)
    assert boxes[0] == Box(-1440, 0, 400, 100)  # just past the group's nearest edge, the left one


def test_float_and_negative_geometry_gives_whole_pixels() -> None:
    source = Box(-1234.75, -20.25, 300.5, 99.9)
    [box] = Placer([node(-1234.75, -20.25, 300.5, 99.9)]).place(source, [(400, 100)])
    assert box == Box(math.ceil(-1234.75 + 300.5) + GAP, -21, 400, 100)
    assert_whole_pixels([box])


def test_malformed_nodes_are_not_obstacles_and_do_not_crash() -> None:
    bad = [None, 3, "text", [1, 2], {}, node("1", 0, 10, 10), node(0, 0, -5, 10), node(0, 0, 10, 0),
           node(True, 0, 10, 10), node(math.nan, 0, 10, 10), node(0, math.inf, 10, 10), node(2.0**60, 0, 10, 10),
           {"x": 400, "y": 0, "width": 10}]
    placer = Placer(bad)
    assert placer.obstacle_count() == 0
    assert placer.place(SOURCE, [(400, 100)]) == [Box(340, 0, 400, 100)]


def test_no_sizes_place_nothing() -> None:
    placer = Placer([])
    assert placer.place(SOURCE, []) == []
    assert placer.obstacle_count() == 0


@pytest.mark.parametrize("stack", ["column", "row"])
def test_a_source_inside_a_dense_crowd_still_gets_free_space(stack) -> None:
    crowd = [node(i * 250, j * 100, 250, 100) for i in range(100) for j in range(100)]  # touching, no gaps
    source = box_of(crowd[50 * 100 + 50])
    assert source is not None
    placer = Placer(crowd)
    blocks = [placer.place(source, [(400, 120)] * 7, stack=stack) for _ in range(3)]
    placed = [box for block in blocks for box in block]
    assert_whole_pixels(placed)
    assert_apart(placed)
    crowd_boxes = obstacles(crowd)
    assert not any(box.overlaps(other) for box in placed for other in crowd_boxes)
    assert placer.obstacle_count() == 10_000 + 21


# --- Box -------------------------------------------------------------------------------------------------

def test_box_edges_centre_and_overlap() -> None:
    box = Box(10, 20, 30, 40)
    assert (box.right, box.bottom, box.centre) == (40, 60, (25, 40))
    touching = Box(40, 20, 10, 10)
    assert not box.overlaps(touching) and not touching.overlaps(box)
    assert box.overlaps(touching, gap=1)
    assert not box.overlaps(Box(50, 20, 10, 10), gap=10)  # exactly `gap` apart is clear
    assert box.overlaps(Box(39.5, 59.5, 1, 1))


def test_box_of_reads_node_geometry() -> None:
    assert box_of(node(-5, 2.5, 100, 60)) == Box(-5, 2.5, 100, 60)
    assert box_of({"x": 0, "y": 0, "width": 10}) is None
    assert box_of(None) is None


# --- text size -------------------------------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300) | st.text(
    alphabet=st.sampled_from(list("ab 学習한\n|#-\t")), max_size=800)


@settings(max_examples=400, deadline=None)
@given(text=texts, more=texts)
def test_a_longer_text_is_never_smaller(text, more) -> None:
    width, height = text_size(text)
    longer_width, longer_height = text_size(text + more)
    assert longer_width >= width and longer_height >= height


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_text_sizes_stay_within_bounds(text) -> None:
    width, height = text_size(text)
    assert type(width) is int and type(height) is int
    assert 250 <= width <= 600 and height >= 60


def test_short_text_is_the_minimum_size() -> None:
    assert text_size("") == (250, 60)
    assert text_size("What is a limit?") == (250, 60)


def test_prose_grows_to_400_then_wraps() -> None:
    assert 250 < text_size("x" * 40)[0] < 400
    width, height = text_size("word " * 40)
    assert width == 400 and height > text_size("word " * 10)[1]


def test_height_counts_lines() -> None:
    assert text_size("a\nb\nc\nd") == (250, 24 + 4 * 26)
    assert text_size("\n".join("line" for _ in range(10)))[1] == 24 + 10 * 26


def test_chinese_text_is_wider_than_as_many_latin_characters() -> None:
    assert text_size("极限" * 15)[0] > text_size("ab" * 15)[0]
    assert text_size("学" * 300)[1] > text_size("a" * 300)[1]


def test_tables_and_long_texts_may_be_wider() -> None:
    row = "| " + " | ".join(["column heading"] * 4) + " |"
    table = "\n".join([row, "|" + "---|" * 4, row])
    assert 400 < text_size(table)[0] <= 600
    assert text_size("a long explanation " * 200)[0] == 600
    assert text_size("x" * 100_000)[0] == 600


# --- edge sides ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("other", "expected"), [
    (Box(400, 0, 300, 100), ("right", "left")),
    (Box(-400, 10, 300, 100), ("left", "right")),
    (Box(0, 200, 300, 100), ("bottom", "top")),
    (Box(50, -300, 300, 100), ("top", "bottom")),
    (Box(700, 150, 300, 100), ("right", "left")),  # mostly beside, a little lower
    (Box(100, 900, 300, 100), ("bottom", "top")),  # mostly below, a little to the right
])
def test_sides_follow_the_geometry(other, expected) -> None:
    assert sides(SOURCE, other) == expected
    assert set(sides(SOURCE, other)) <= set(SIDES)
    assert sides(other, SOURCE) == expected[::-1]


@given(a=st.builds(Box, coords, coords, lengths, lengths), b=st.builds(Box, coords, coords, lengths, lengths))
def test_sides_are_json_canvas_sides(a, b) -> None:
    assert set(sides(a, b)) <= set(SIDES)
