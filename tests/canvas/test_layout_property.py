"""Properties of lossless rendering (canvas/layout.py) over generated documents and edits."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from canvasd.canvas.layout import CanvasText
from tests.support import canvas_factory as cf

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(alphabet="abcxyz学", min_size=1, max_size=4), inner, max_size=3), max_leaves=6)
extra_keys = st.dictionaries(st.sampled_from(["color", "label", "meta", "styleAttributes", "zz"]), values, max_size=2)
items = st.builds(lambda i, extra: {"id": f"n{i}", "type": "text", "text": f"t{i}", "x": i, "y": 0, "width": 1,
                                    "height": 1, **extra}, st.integers(0, 30), extra_keys)
documents = st.builds(lambda nodes, edges, top: {**top, "nodes": nodes, "edges": edges},
                      st.lists(items, max_size=8), st.lists(items, max_size=3),
                      st.dictionaries(st.sampled_from(["metadata", "version"]), values, max_size=1))
layouts = st.sampled_from(sorted(cf.LAYOUTS))


@st.composite
def edits(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """A new document made from `doc` by keeping, changing, removing, adding and reordering items."""
    new = dict(doc)
    for key in ("nodes", "edges"):
        out = []
        for item in doc[key]:
            action = draw(st.sampled_from(["keep", "keep", "keep", "change", "remove"]))
            if action == "keep":
                out.append(item)
            elif action == "change":
                changed = {**item, **draw(extra_keys)}
                for k in draw(st.lists(st.sampled_from(list(item)), max_size=1)):
                    changed.pop(k, None)
                out.append(changed)
        out += draw(st.lists(items, max_size=2))
        if draw(st.booleans()) and len(out) > 1:
            i, j = draw(st.integers(0, len(out) - 1)), draw(st.integers(0, len(out) - 1))
            out[i], out[j] = out[j], out[i]
        new[key] = out
    if draw(st.booleans()):
        new["metadata"] = draw(values)
    return new


@settings(max_examples=300, deadline=None)
@given(doc=documents, layout=layouts, crlf=st.booleans(), data=st.data())
def test_render_writes_exactly_the_new_document_and_keeps_untouched_items(doc, layout, crlf, data) -> None:
    text = cf.LAYOUTS[layout](doc)
    if crlf:
        text = text.replace("\n", "\r\n")
    canvas = CanvasText.parse(text)
    assert canvas.render(json.loads(json.dumps(canvas.document))).text == text
    new = data.draw(edits(canvas.document))
    rendered = canvas.render(new)
    assert json.loads(rendered.text) == json.loads(json.dumps(new))
    assert ("\r\n" in rendered.text) or not crlf or rendered.text.count("\n") == 0
    # every kept item keeps its exact text, and the result renders on (carried structure is consistent)
    for key in ("nodes", "edges"):
        kept = [item for item in new[key] if any(item is old for old in canvas.document[key])]
        for item in kept:
            compact = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
            if layout == "obsidian":
                assert compact in rendered.text
    again = rendered.render(json.loads(json.dumps(new)))
    assert again.text == rendered.text
    reparsed = CanvasText.parse(rendered.text)
    assert reparsed.document == rendered.document


@settings(max_examples=100, deadline=None)
@given(doc=documents, layout=layouts, data=st.data())
def test_bytes_kept_per_item_equal_the_encoded_text_across_edits(doc, layout, data) -> None:
    canvas = CanvasText.parse(cf.LAYOUTS[layout](doc))
    assert canvas.data == canvas.text.encode()
    for _ in range(3):  # the per-item encodings are carried from one render to the next
        canvas = canvas.render(data.draw(edits(canvas.document)))
        assert canvas.data == canvas.text.encode()
