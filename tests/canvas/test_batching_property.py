"""Property: any sequence of patch requests committed in batches equals applying them one at a time."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canvasd.canvas import CanvasEngine, Patch
from canvasd.config import load_settings
from tests.support import canvas_factory as cf

NODE_IDS = ["a", "b", "c", "d"]
EDGE_IDS = ["e1", "e2", "e3"]
COLORS = ["1", "3", "4", "6", "#a882ff"]

node_ids = st.sampled_from(NODE_IDS)
edge_ids = st.sampled_from(EDGE_IDS)
texts = st.text(alphabet="ab 学习\n\"\\é", max_size=6)

add_node = st.builds(lambda i, t, x, c: {"op": "add_node", "node": {
    "id": i, "type": "text", "text": t, "x": x, "y": 0, "width": 100, "height": 50, **({"color": c} if c else {})}},
    node_ids, texts, st.integers(-500, 500), st.none() | st.sampled_from(COLORS))
update_node = st.builds(lambda i, s, u: {"op": "update_node", "id": i, "set": s, "unset": u},
                        node_ids,
                        st.fixed_dictionaries({}, optional={"color": st.sampled_from(COLORS), "x": st.integers(0, 9),
                                                            "text": texts, "styleAttributes": st.just({"a": [1]})}),
                        st.lists(st.sampled_from(["color", "styleAttributes"]), max_size=1, unique=True),
                        ).filter(lambda op: (op["set"] or op["unset"]) and not set(op["set"]) & set(op["unset"]))
remove_node = st.builds(lambda i: {"op": "remove_node", "id": i}, node_ids)
add_edge = st.builds(lambda i, a, b, lab: {"op": "add_edge", "edge": {
    "id": i, "fromNode": a, "toNode": b, **({"label": lab} if lab else {})}}, edge_ids, node_ids, node_ids,
    st.none() | texts)
update_edge = st.builds(lambda i, c: {"op": "update_edge", "id": i, "set": {"color": c}}, edge_ids,
                        st.sampled_from(COLORS))
remove_edge = st.builds(lambda i: {"op": "remove_edge", "id": i}, edge_ids)
ops = st.one_of(add_node, update_node, remove_node, add_edge, update_edge, remove_edge)
requests = st.lists(st.lists(ops, min_size=1, max_size=3), min_size=1, max_size=10)
layouts = st.sampled_from(sorted(cf.LAYOUTS))

START = {"nodes": [{"id": "a", "type": "text", "text": "A", "x": 0, "y": 0, "width": 100, "height": 50},
                   {"id": "b", "type": "text", "text": "B", "x": 200, "y": 0, "width": 100, "height": 50,
                    "color": "1"}],
         "edges": [{"id": "e1", "fromNode": "a", "toNode": "b"}]}


def _outcome(future) -> str:
    exc = future.exception(timeout=30)
    return "ok" if exc is None else type(exc).__name__


def test_batched_commits_equal_one_at_a_time() -> None:
    plain = CanvasEngine(load_settings(batch_writer={"enabled": False, "fsync": False},
                                       read_cache={"enabled": False}, json_engine="json"))
    batched = CanvasEngine(load_settings(batch_writer={"window_ms": 60_000, "max_delay_ms": 60_000, "fsync": False}))
    try:
        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(layout=layouts, reqs=requests, cuts=st.sets(st.integers(1, 9), max_size=4))
        def check(layout: str, reqs: list[list[dict]], cuts: set[int]) -> None:
            with tempfile.TemporaryDirectory() as tmp:
                one, many = Path(tmp, "one.canvas"), Path(tmp, "many.canvas")
                text = cf.LAYOUTS[layout](START)
                one.write_text(text)
                many.write_text(text)
                expected = [_outcome(plain.submit(one, Patch(r))) for r in reqs]
                futures = []
                for i, r in enumerate(reqs):
                    if i in cuts:
                        batched.flush()
                    futures.append(batched.submit(many, Patch(r)))
                batched.flush()
                assert [_outcome(f) for f in futures] == expected
                assert many.read_bytes() == one.read_bytes()

        check()
    finally:
        plain.close()
        batched.close()
