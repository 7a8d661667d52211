"""Lossless canvas text: a canvas parsed into pieces that remember their exact text, and rendering that
reuses those pieces for everything a change did not touch.

`CanvasText.parse(text)` splits a canvas into its top-level members and the items of its `nodes` and
`edges` arrays, each with the whitespace around it. `CanvasText.render(document)` gives the structure of a
changed document (`.text` joins it): untouched items (recognised by object identity, or by id and equal
value) keep their bytes; a changed item keeps the bytes of its untouched members; new objects are written
in the layout the file already uses (Obsidian's one-object-per-line tabs, 2-space pretty-print, multi-line
tabs, minified, CRLF, BOM, final newline or not). A new canvas gets Obsidian's layout.

Parsing uses the standard library's C scanner because it reports where each value ends; reads that only
need the document use the faster parser in `codec.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, count
from json.decoder import scanstring  # type: ignore[attr-defined]
from operator import is_not
from typing import Any

from canvasd.types import JSONObject

BOM = "\ufeff"
ARRAY_KEYS = ("nodes", "edges")
MAX_DEPTH = 512
"""Deepest nesting of JSON arrays and objects canvasd accepts in what a request writes (a node's own fields
are already 3 levels down: the document, its nodes array, the node). Real canvases nest a handful of levels.
Comparing and rendering values recurse one Python frame per level, so this many levels stay well inside the
interpreter's recursion limit; files on disk that nest deeper than the parsers manage are reported, not read."""

_WS = re.compile(r"[ \t\n\r]*")
_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')  # strings (skipped) and brackets
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_DECODER = json.JSONDecoder()
_encode_basestring = json.encoder.encode_basestring


class LayoutParseError(ValueError):
    """Where and why a canvas text could not be parsed (offsets into the text after any BOM)."""

    def __init__(self, pos: int, reason: str, text: str) -> None:
        self.pos = pos
        self.reason = reason
        self.line = text.count("\n", 0, pos) + 1
        self.column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{reason} (line {self.line}, column {self.column})")


class LayoutTooDeepError(LayoutParseError):
    """The text nests arrays and objects deeper than the parser can follow (`pos`: the first level beyond
    MAX_DEPTH)."""

    def __init__(self, text: str) -> None:
        super().__init__(deeper_than(text, MAX_DEPTH), f"arrays and objects nest more than {MAX_DEPTH} levels deep",
                         text)


def exceeds_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests arrays and objects more than `limit` levels deep.

    Level by level, without recursion, so any depth is safe to ask about; every container is visited once.
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [v for c in level for v in (c.values() if type(c) is dict else c)
                 if type(v) is dict or type(v) is list]
    return False


def deeper_than(text: str, limit: int) -> int:
    """Offset of the first '[' or '{' in JSON `text` that opens level `limit` + 1 (0 if none does).

    A scan of every string and bracket: for error reports, not for the hot path.
    """
    depth = 0
    for match in _NESTING.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > limit:
                return match.start()
        elif char in "]}":
            depth -= 1
    return 0


# --------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class Layout:
    """How a file is formatted, as far as new text needs to know. Defaults are Obsidian's layout."""

    newline: str = "\n"
    indent: str = "\t"
    colon: str = ":"
    multiline: bool = True  # the root object and the nodes/edges arrays put one element per line
    item_multiline: bool = False  # a node/edge object spreads over several lines
    item_sep: str = ""  # in one-line objects: whitespace after ','
    nested_multiline: bool = False  # nested objects inside multi-line items spread over lines

    def roles(self, depth: int, multiline: bool) -> _Roles:
        """Whitespace for the elements of an empty container `depth` levels deep."""
        if multiline:
            inner = self.newline + self.indent * (depth + 1)
            return _Roles(inner, inner, "", self.newline + self.indent * depth)
        return _Roles("", self.item_sep, "", "")


OBSIDIAN = Layout()


@dataclass(frozen=True, slots=True)
class _Roles:
    first_lead: str
    sep_lead: str
    mid_trail: str
    last_trail: str


# ------------------------------------------------------------------------------------------ structure


@dataclass(slots=True, eq=False)
class Element:
    """One member of an object or item of an array: its exact text `piece` = lead + head + text + trail.

    `a`, `b`, `c` are the offsets in `piece` where the head, the value and the trail start. A new element
    is not `placed` until a container gives it the whitespace of its position.
    """

    piece: str
    a: int
    b: int
    c: int
    key: str | None
    value: Any
    was_first: bool = False
    was_last: bool = False
    placed: bool = True
    parts: Container | None = None  # nodes/edges arrays: their items; items: their members (lazy)

    @classmethod
    def fresh(cls, head: str, key: str | None, text: str, value: Any) -> Element:
        """A new element, to be placed by its container."""
        return cls(head + text, 0, len(head), len(head) + len(text), key, value, placed=False)

    @property
    def lead(self) -> str:
        return self.piece[: self.a]

    @property
    def head(self) -> str:
        return self.piece[self.a : self.b]

    @property
    def text(self) -> str:
        return self.piece[self.b : self.c]

    @property
    def trail(self) -> str:
        return self.piece[self.c :]

    def with_text(self, text: str, value: Any, parts: Container | None = None) -> Element:
        """The same member in the same place with a new value."""
        piece = "".join((self.piece[: self.b], text, self.piece[self.c :]))
        return Element(piece, self.a, self.b, self.b + len(text), self.key, value, self.was_first,
                       self.was_last, self.placed, parts)

    def at(self, lead: str, trail: str, first: bool, last: bool) -> Element:
        """This element with the whitespace of a new position."""
        core = self.piece[self.a : self.c]
        return Element(lead + core + trail, len(lead), len(lead) + self.b - self.a, len(lead) + self.c - self.a,
                       self.key, self.value, first, last, True, self.parts)


@dataclass(slots=True, eq=False)
class Container:
    """The elements of one JSON object or array and the whitespace inside it when empty."""

    opener: str  # '{' or '['
    elements: list[Element]
    empty: str = ""
    _pieces: list[str] | None = None
    _values: list[Any] | None = None
    _encoded: list[bytes] | None = None  # the pieces as UTF-8, once a write needed them (then carried along)

    @property
    def closer(self) -> str:
        return "}" if self.opener == "{" else "]"

    @property
    def pieces(self) -> list[str]:
        if self._pieces is None:
            self._pieces = [el.piece for el in self.elements]
        return self._pieces

    @property
    def encoded(self) -> list[bytes]:
        if self._encoded is None:
            self._encoded = [piece.encode() for piece in self.pieces]
        return self._encoded

    @property
    def values(self) -> list[Any]:
        if self._values is None:
            self._values = [el.value for el in self.elements]
        return self._values

    def roles(self, fallback: _Roles) -> _Roles:
        """Whitespace this container uses for first / separating / middle / last positions."""
        els = self.elements
        if not els:
            return fallback
        return _Roles(
            first_lead=els[0].lead,
            sep_lead=els[1].lead if len(els) > 1 else els[0].lead,
            mid_trail=els[0].trail if len(els) > 1 else "",
            last_trail=els[-1].trail,
        )

    def render(self, elements: list[Element], fallback: _Roles, pieces: list[str] | None = None,
               check: set[int] | None = None, join: bool = True,
               encoded: list[bytes] | None = None) -> tuple[str, Container]:
        """Text of this container holding `elements`, and the container that text parses to.

        With `pieces` (the elements' pieces) and `check` (positions that may need new whitespace: new
        elements, moved first/last ones), only those positions are looked at; otherwise all are. `encoded`
        (the pieces as UTF-8) is kept up to date with them when given.
        """
        if not elements:
            return self.opener + self.empty + self.closer, Container(self.opener, [], self.empty)
        last = len(elements) - 1
        if pieces is None or check is None:
            elements, pieces, check = list(elements), [el.piece for el in elements], set(range(last + 1))
        roles: _Roles | None = None
        for i in check | {0, last}:
            el = elements[i]
            first, is_last = i == 0, i == last
            if el.placed and el.was_first == first and el.was_last == is_last:
                continue
            roles = roles or self.roles(fallback)
            lead = el.lead if el.placed and el.was_first == first else (roles.first_lead if first else roles.sep_lead)
            trail = el.trail if el.placed and el.was_last == is_last else (
                roles.last_trail if is_last else roles.mid_trail)
            el = elements[i] = el.at(lead, trail, first, is_last)
            pieces[i] = el.piece
            if encoded is not None:
                encoded[i] = el.piece.encode()
        text = _join(self.opener, pieces, self.closer) if join else ""
        return text, Container(self.opener, elements, self.empty, pieces, _encoded=encoded)


def _join(opener: str, pieces: list[str], closer: str) -> str:
    """opener + ','.join(pieces) + closer, copying the (possibly megabytes of) text only once."""
    parts: list[str] = [","] * (2 * len(pieces) + 1)
    parts[0], parts[-1] = opener, closer
    parts[1::2] = pieces
    return "".join(parts)


# --------------------------------------------------------------------------------------------- parsing


def _ws(text: str, pos: int) -> int:
    if pos < len(text) and text[pos] not in " \t\n\r":
        return pos
    return _WS.match(text, pos).end()  # type: ignore[union-attr]


def _expect_value(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        raise explain_json_error(text, exc.pos, exc.msg) from None


def explain_json_error(text: str, pos: int, msg: str) -> LayoutParseError:
    """A parse error with a reason a person understands (trailing commas are the common one)."""
    if pos < len(text) and text[pos] in "]}":
        before = text[:pos].rstrip(" \t\r\n")
        if before.endswith(","):
            return LayoutParseError(pos, "trailing comma", text)
    if pos >= len(text):
        return LayoutParseError(pos, "unexpected end of file", text)
    return LayoutParseError(pos, msg[:1].lower() + msg[1:], text)


def _parse_container(text: str, pos: int, split_arrays: bool) -> tuple[Container, int]:
    """Parse the object or array at `pos`; with `split_arrays`, nodes/edges arrays keep their items."""
    opener = text[pos]
    closer = "}" if opener == "{" else "]"
    start = pos + 1
    p = _ws(text, start)
    if p < len(text) and text[p] == closer:
        return Container(opener, [], text[start:p]), p + 1
    elements: list[Element] = []
    decode = _DECODER.raw_decode
    while True:
        p = _ws(text, start)
        key: str | None = None
        if opener == "{":
            if p >= len(text) or text[p] != '"':
                raise explain_json_error(text, p, "Expecting property name enclosed in double quotes")
            try:
                key, kend = scanstring(text, p + 1)
            except json.JSONDecodeError as exc:
                raise explain_json_error(text, exc.pos, exc.msg) from None
            q = _ws(text, kend)
            if q >= len(text) or text[q] != ":":
                raise explain_json_error(text, q, "Expecting ':' delimiter")
            vstart = _ws(text, q + 1)
        else:
            vstart = p
        parts: Container | None = None
        if split_arrays and key in ARRAY_KEYS and text.startswith("[", vstart):
            parts, vend = _parse_container(text, vstart, False)
            value: Any = parts.values
        else:
            try:
                value, vend = decode(text, vstart)
            except json.JSONDecodeError as exc:
                raise explain_json_error(text, exc.pos, exc.msg) from None
        t = _ws(text, vend)
        if parts is None:
            elements.append(Element(text[start:t], p - start, vstart - start, vend - start, key, value))
        else:  # a nodes/edges array: its text lives in its items' pieces only, never twice in memory
            piece = text[start:vstart] + text[vend:t]
            elements.append(Element(piece, p - start, vstart - start, vstart - start, key, value, parts=parts))
        if t >= len(text):
            raise explain_json_error(text, t, "unexpected end of file")
        if text[t] == ",":
            start = t + 1
            continue
        if text[t] == closer:
            elements[0].was_first = True
            elements[-1].was_last = True
            return Container(opener, elements), t + 1
        raise explain_json_error(text, t, f"Expecting ',' or '{closer}'")


def _members(text: str) -> Container:
    """The members of one object's text (an item of nodes/edges), parsed when a change needs them."""
    container, _ = _parse_container(text, 0, False)
    return container


# ------------------------------------------------------------------------------------------ rendering


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (1 == 1.0, but true != 1); `is` first so untouched objects cost nothing.

    Values of any depth: a file on disk may nest deeper than the stack allows recursion (the parsers follow
    about 1500 levels); those are compared again without recursion.
    """
    try:
        return _same_nested(a, b)
    except RecursionError:
        return _same_flat(a, b)


def _same_nested(a: Any, b: Any) -> bool:
    """`_same` by recursion: the fast way, one Python frame per level (plain loops, not all(generator))."""
    if a is b:
        return True
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return False
        for k, v in a.items():  # noqa: SIM110 - all(generator) would add a frame per level
            if not _same_nested(v, b[k]):
                return False
        return True
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):  # noqa: SIM110 - as above
            if not _same_nested(x, y):
                return False
        return True
    return a == b and not isinstance(b, dict | list)


def _same_flat(a: Any, b: Any) -> bool:
    """`_same` with a stack of pairs instead of recursion: any depth, somewhat slower."""
    pairs = [(a, b)]
    while pairs:
        a, b = pairs.pop()
        if a is b:
            continue
        if type(a) is bool or type(b) is bool:
            if type(a) is not type(b) or a != b:
                return False
        elif isinstance(a, dict):
            if not isinstance(b, dict) or a.keys() != b.keys():
                return False
            pairs.extend([(v, b[k]) for k, v in a.items()])
        elif isinstance(a, list):
            if not isinstance(b, list) or len(a) != len(b):
                return False
            pairs.extend(zip(a, b, strict=True))
        elif isinstance(b, dict | list) or a != b:
            return False
    return True


def encode_string(value: str) -> str:
    """JSON text of a string as JavaScript's JSON.stringify writes it (UTF-8 kept, lone surrogates escaped)."""
    text = _encode_basestring(value)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def dump_value(value: Any, layout: Layout, indent_prefix: str, multiline: bool) -> str:
    """JSON text for a new value: compact in the file's separators, or pretty below `indent_prefix`."""
    if isinstance(value, str):
        return encode_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} cannot be written as JSON")
        return float.__repr__(value)
    # One Python frame per nesting level (list comprehensions are inlined; a generator inside join() would
    # add a frame and C stack per level), so values MAX_DEPTH levels deep fit the interpreter's stack.
    if isinstance(value, dict):
        if not value:
            return "{}"
        opener, closer = "{", "}"
        heads = [encode_string(k) + layout.colon for k in value]
        items = list(value.values())
    elif isinstance(value, list | tuple):
        if not value:
            return "[]"
        opener, closer = "[", "]"
        heads = [""] * len(value)
        items = list(value)
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")
    if multiline:
        inner = indent_prefix + layout.indent
        texts = [dump_value(v, layout, inner, True) for v in items]
        body = ("," + layout.newline + inner).join([head + text for head, text in zip(heads, texts, strict=True)])
        return f"{opener}{layout.newline}{inner}{body}{layout.newline}{indent_prefix}{closer}"
    texts = [dump_value(v, layout, indent_prefix, False) for v in items]
    sep = "," + layout.item_sep
    return opener + sep.join([head + text for head, text in zip(heads, texts, strict=True)]) + closer


def _indent_of(lead: str | None) -> str:
    """The indentation a member's lead whitespace puts it at ('' on a one-line object)."""
    if not lead or "\n" not in lead:
        return ""
    return lead.rsplit("\n", 1)[1]


@dataclass(slots=True)
class _ItemStyle:
    """How new members of a node/edge are written: learned from an existing item or the file's layout."""

    roles: _Roles
    colon: str
    multiline: bool
    nested_multiline: bool

    @property
    def indent_prefix(self) -> str:
        return _indent_of(self.roles.sep_lead)


class _ArrayRenderer:
    """Renders a new nodes/edges list against the items the file had.

    Runs of items that are the very objects of the old list are copied at C speed with their text; only
    the items in between (new, changed, moved) are looked at one by one, so a change to one node of a
    large canvas costs little more than joining the pieces.
    """

    def __init__(self, old: Container | None, layout: Layout, depth: int, template: Element | None) -> None:
        self.old = old or Container("[", [])
        self.layout = layout
        self.depth = depth
        self.template = template
        self._by_identity: dict[int, int] | None = None
        self._by_id: dict[Any, list[int]] | None = None
        self._used: set[int] = set()
        self._style: _ItemStyle | None = None

    def render(self, items: list[Any]) -> Container:
        """The structure of the array holding `items` (its text is joined once, by CanvasText.text)."""
        old_elements, old_pieces, old_values = self.old.elements, self.old.pieces, self.old.values
        old_encoded = self.old._encoded
        n_old, n = len(old_elements), len(items)
        elements: list[Element] = []
        pieces: list[str] = []
        encoded: list[bytes] | None = [] if old_encoded is not None else None
        check: set[int] = set()
        i = j = 0
        while j < n:
            run = _identical_run(items, j, old_values, i)
            if run:
                if i == 0 or i + run == n_old:  # the old first / last item: it may need new whitespace
                    check.update((j, j + run - 1))
                elements += old_elements[i : i + run]
                pieces += old_pieces[i : i + run]
                if encoded is not None and old_encoded is not None:
                    encoded += old_encoded[i : i + run]
                i += run
                j += run
                continue
            item = items[j]
            in_place = i < n_old and _same_id(item, old_values[i])
            ahead = None if in_place or i >= n_old else self._ahead(item, i)
            if ahead is not None:  # the old items between were removed
                i = ahead
                continue
            element, consumed = self._element(item, i) if not in_place else self._in_place(item, i)
            if consumed:
                i += 1
            check.add(len(elements))
            elements.append(element)
            pieces.append(element.piece)
            if encoded is not None:
                encoded.append(element.piece.encode())
            j += 1
        fallback = self.layout.roles(self.depth, self.layout.multiline)
        return self.old.render(elements, fallback, pieces, check, join=False, encoded=encoded)[1]

    def _identity_index(self) -> dict[int, int]:
        if self._by_identity is None:
            self._by_identity = {id(v): k for k, v in enumerate(self.old.values)}
        return self._by_identity

    def _ahead(self, item: Any, i: int) -> int | None:
        """Where `item` (an untouched old item) stands further on in the old list, if it does."""
        values = self.old.values
        for k in range(i + 1, min(i + 4, len(values))):
            if values[k] is item:
                return k
        found = self._identity_index().get(id(item))
        return found if found is not None and found > i and values[found] is item else None

    def _in_place(self, item: JSONObject, i: int) -> tuple[Element, bool]:
        """The element for a changed version of the old item at `i` (same id, same place)."""
        self._used.add(i)
        previous = self.old.elements[i]
        return (previous if _same(previous.value, item) else self._changed(previous, item)), True

    def _element(self, item: Any, i: int) -> tuple[Element, bool]:
        """The element for a new, changed or moved item; also whether it used the old item at `i`."""
        old_elements = self.old.elements
        k = self._identity_index().get(id(item))
        if k is not None and old_elements[k].value is item:
            return old_elements[k], k == i
        k = self._previous(item, i)
        if k is None:
            return Element.fresh("", None, self._dump_new(item), item), False
        previous = old_elements[k]
        if _same(previous.value, item):
            return previous, k == i
        if isinstance(item, dict) and isinstance(previous.value, dict):
            return self._changed(previous, item), k == i
        return Element.fresh("", None, self._dump_new(item), item), False

    def _previous(self, item: Any, i: int) -> int | None:
        """The old item with the same id as `item` (the one at `i` first), not yet used."""
        if not isinstance(item, dict) or type(item.get("id")) is not str:
            return None
        oid = item["id"]
        values = self.old.values
        if i < len(values) and i not in self._used and isinstance(values[i], dict) and values[i].get("id") == oid:
            self._used.add(i)
            return i
        if self._by_id is None:
            self._by_id = {}
            for k, value in enumerate(values):
                if isinstance(value, dict) and type(value.get("id")) is str:
                    self._by_id.setdefault(value["id"], []).append(k)
        for k in self._by_id.get(oid, ()):
            if k not in self._used:
                self._used.add(k)
                return k
        return None

    def _changed(self, previous: Element, item: JSONObject) -> Element:
        """The item re-rendered: same whitespace, untouched members keep their text."""
        if previous.parts is None:
            previous.parts = _members(previous.text)
        style = self._item_style()
        members = previous.parts
        multiline = "\n" in previous.text
        item_roles = members.roles(style.roles)
        by_key = {el.key: el for el in members.elements}
        colon = _colon_of(members.elements[-1]) if members.elements else style.colon
        prefix = _indent_of(item_roles.sep_lead)
        nested = multiline and style.nested_multiline
        elements: list[Element] = []
        for key, value in item.items():
            old = by_key.get(key)
            if old is not None and _same(old.value, value):
                elements.append(old)
            elif old is not None:
                elements.append(old.with_text(dump_value(value, self.layout, prefix, nested), value))
            else:
                text = dump_value(value, self.layout, prefix, nested)
                elements.append(Element.fresh(encode_string(key) + colon, key, text, value))
        text, parts = members.render(elements, item_roles)
        return previous.with_text(text, item, parts)

    def _dump_new(self, item: Any) -> str:
        style = self._item_style()
        if not isinstance(item, dict):
            return dump_value(item, self.layout, style.indent_prefix, False)
        nested = style.multiline and style.nested_multiline
        elements = [
            Element.fresh(encode_string(k) + style.colon, k, dump_value(v, self.layout, style.indent_prefix, nested), v)
            for k, v in item.items()
        ]
        text, _ = Container("{", []).render(elements, style.roles)
        return text

    def _item_style(self) -> _ItemStyle:
        if self._style is None:
            self._style = self._learn_style()
        return self._style

    def _learn_style(self) -> _ItemStyle:
        layout = self.layout
        template = self.old.elements[-1] if self.old and self.old.elements else self.template
        if template is not None and isinstance(template.value, dict) and template.value:
            if template.parts is None:
                template.parts = _members(template.text)
            members = template.parts
            multiline = "\n" in template.text
            fallback = layout.roles(self.depth + 1, True) if multiline else layout.roles(self.depth + 1, False)
            roles = members.roles(fallback)
            if len(members.elements) == 1 and not multiline:
                roles = _Roles(roles.first_lead, layout.item_sep, roles.mid_trail, roles.last_trail)
            return _ItemStyle(roles, _colon_of(members.elements[-1]), multiline, layout.nested_multiline)
        multiline = layout.item_multiline
        return _ItemStyle(layout.roles(self.depth + 1, multiline), layout.colon, multiline, layout.nested_multiline)


def _same_id(item: Any, old: Any) -> bool:
    return type(item) is dict and type(old) is dict and "id" in item and item["id"] == old.get("id")


def _identical_run(items: list[Any], j: int, values: list[Any], i: int) -> int:
    """How many of items[j:] are, one for one, the very objects values[i:] (counted at C speed)."""
    if j >= len(items) or i >= len(values) or items[j] is not values[i]:
        return 0
    m = min(len(items) - j, len(values) - i)
    mismatches = compress(count(), map(is_not, items[j : j + m], values[i : i + m]))
    return next(mismatches, m)


def _colon_of(member: Element) -> str:
    """The ':' with its surrounding whitespace, as a member's head has it."""
    head = member.head
    return head[head.rindex('"') + 1:] if '"' in head else ":"


# ----------------------------------------------------------------------------------------- the canvas


@dataclass(eq=False)
class CanvasText:
    """A canvas's structure; `text` joins it into the file's text, `document` is the parsed canvas (read-only).

    The text is held once, in pieces: each nodes/edges item keeps its own, the top level keeps only what
    lies around the arrays. `root` is None for a blank file (no JSON at all).
    """

    prefix: str  # BOM and whitespace before '{' (a blank file's whole text)
    root: Container | None
    suffix: str  # whatever follows '}' (the final newline, or nothing)
    document: JSONObject
    _members: dict[str, Element] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> CanvasText:
        """Parse canvas text; an empty or blank file is an empty canvas. Raises LayoutParseError."""
        bom = BOM if text.startswith(BOM) else ""
        body = text[len(bom):]
        start = _ws(body, 0)
        if start == len(body):
            return cls(text, None, "", {})
        if body[start] != "{":
            if body[start] == "[":
                raise LayoutParseError(start, "a canvas must be a JSON object, not an array", body)
            _expect_value(body, start)
            raise LayoutParseError(start, "a canvas must be a JSON object", body)
        try:
            root, end = _parse_container(body, start, True)
        except RecursionError:  # the C scanner follows about a thousand levels, then gives up
            raise LayoutTooDeepError(body) from None
        tail = _ws(body, end)
        if tail != len(body):
            raise LayoutParseError(tail, "unexpected text after the canvas object", body)
        document = {el.key: el.value for el in root.elements if el.key is not None}
        return cls(bom + body[:start], root, body[end:], document)

    @classmethod
    def new(cls) -> CanvasText:
        """An empty canvas that renders new content in Obsidian's layout."""
        return cls("", None, "", {})

    @property
    def text(self) -> str:
        """The canvas's text, joined from its pieces with a single copy."""
        return "".join(self._fragments(str))

    @property
    def data(self) -> bytes:
        """The canvas's UTF-8 bytes; items' encodings are kept, so a write re-encodes only what changed."""
        return b"".join(self._fragments(bytes))

    def _fragments(self, kind: type) -> list[Any]:
        as_bytes = kind is bytes

        def enc(text: str) -> Any:
            return text.encode() if as_bytes else text

        if self.root is None:
            return [enc(self.prefix)]
        comma = enc(",")
        fragments = [enc(self.prefix), enc("{")]
        elements = self.root.elements
        if not elements:
            fragments.append(enc(self.root.empty))
        for i, el in enumerate(elements):
            if i:
                fragments.append(comma)
            if el.parts is None:
                fragments.append(enc(el.piece))
                continue
            parts = el.parts
            fragments += (enc(el.piece[: el.b]), enc(parts.opener))
            if parts.elements:
                interleaved = [comma] * (2 * len(parts.elements) - 1)
                interleaved[0::2] = parts.encoded if as_bytes else parts.pieces
                fragments += interleaved
            else:
                fragments.append(enc(parts.empty))
            fragments += (enc(parts.closer), enc(el.piece[el.c :]))
        fragments += (enc("}"), enc(self.suffix))
        return fragments

    @cached_property
    def layout(self) -> Layout:
        """The layout this file uses, learned from its own whitespace (Obsidian's for an empty file)."""
        if self.root is None:
            return OBSIDIAN
        els = self.root.elements
        if not els:
            return OBSIDIAN if not self.root.empty or "\n" in self.root.empty else Layout(multiline=False)
        lead = els[0].lead or ""
        multiline = "\n" in lead
        newline = "\r\n" if "\r\n" in lead else "\n"
        indent = _indent_of(lead) if multiline else ""
        colon = _colon_of(els[0])
        item = next((el for key in ARRAY_KEYS for el in self._array_elements(key)), None)
        item_multiline = item is not None and "\n" in item.text
        item_sep = (" " if colon.endswith(" ") else "") if not multiline else ""
        if item is not None and not item_multiline and isinstance(item.value, dict) and len(item.value) > 1:
            if item.parts is None:
                item.parts = _members(item.text)
            item_sep = item.parts.elements[1].lead or ""
        nested = self._nested_multiline(indent)
        return Layout(newline, indent or ("\t" if multiline else ""), colon, multiline,
                      item_multiline if item is not None else not indent.startswith("\t") and multiline,
                      item_sep, nested)

    def _array_elements(self, key: str) -> list[Element]:
        member = self._member(key)
        return member.parts.elements if member is not None and member.parts is not None else []

    def _nested_multiline(self, indent: str) -> bool:
        """Whether nested objects inside items spread over lines: evidence first, else by indent style."""
        for key in ARRAY_KEYS:
            for el in self._array_elements(key)[:50]:
                if "\n" not in el.text or not isinstance(el.value, dict):
                    continue
                for key, value in el.value.items():
                    if isinstance(value, dict | list) and value:
                        if el.parts is None:
                            el.parts = _members(el.text)
                        member = next(m for m in el.parts.elements if m.key == key)
                        return "\n" in member.text
        return bool(indent) and not indent.startswith("\t")

    def _member(self, key: str) -> Element | None:
        if not self._members and self.root is not None and self.root.elements:
            self._members = {el.key: el for el in self.root.elements if el.key is not None}
        return self._members.get(key)

    def render(self, document: JSONObject) -> CanvasText:
        """The canvas holding `document`, written in this file's layout with untouched text kept."""
        if document is self.document:
            return self
        layout = self.layout
        elements: list[Element] = []
        templates: dict[str, Element | None] = {}
        for key in ARRAY_KEYS:
            items = self._array_elements(key)
            templates[key] = items[-1] if items else None
        for key, value in document.items():
            old = self._member(key)
            if old is not None and old.value is value:
                elements.append(old)
                continue
            if key in ARRAY_KEYS and isinstance(value, list):
                other = templates[ARRAY_KEYS[1 - ARRAY_KEYS.index(key)]]
                old_parts = old.parts if old is not None else None
                parts = _ArrayRenderer(old_parts, layout, 1, other).render(value)
                elements.append(_replaced(old, key, "", value, parts, layout))
            elif old is not None and _same(old.value, value):
                elements.append(old)
            else:
                prefix = _indent_of(old.lead) if old is not None else (layout.indent if layout.multiline else "")
                text = dump_value(value, layout, prefix, layout.multiline and layout.nested_multiline)
                elements.append(_replaced(old, key, text, value, None, layout))
        _, root = (self.root or Container("{", [])).render(elements, layout.roles(0, layout.multiline), join=False)
        return CanvasText(self.prefix, root, self.suffix, document)


def _replaced(old: Element | None, key: str, text: str, value: Any, parts: Container | None,
              layout: Layout) -> Element:
    if old is not None:
        return old.with_text(text, value, parts)
    element = Element.fresh(encode_string(key) + layout.colon, key, text, value)
    element.parts = parts
    return element
