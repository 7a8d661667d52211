"""Lossless canvas text: a canvas parsed into pieces that remember their exact text, and rendering that
reuses those pieces for everything a change did not touch.

`CanvasText.parse(text)` splits a canvas into its top-level members and the items of its `nodes` and
`edges` arrays, each with the whitespace around it. `CanvasText.render(document)` produces the text of a
changed document: untouched items (recognised by object identity, or by id and equal value) keep their
bytes; a changed item keeps the bytes of its untouched members; new objects are written in the layout the
file already uses (Obsidian's one-object-per-line tabs, 2-space pretty-print, multi-line tabs, minified,
CRLF, BOM, final newline or not). A new canvas gets Obsidian's layout.

Parsing uses the standard library's C scanner because it reports where each value ends; reads that only
need the document use the faster parser in `codec.py`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from json.decoder import scanstring
from typing import Any

from canvasd.types import JSONObject

BOM = "\ufeff"
ARRAY_KEYS = ("nodes", "edges")

_WS = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_DECODER = json.JSONDecoder()
_encode_basestring = json.encoder.encode_basestring  # type: ignore[attr-defined]


class LayoutParseError(ValueError):
    """Where and why a canvas text could not be parsed (offsets into the text after any BOM)."""

    def __init__(self, pos: int, reason: str, text: str) -> None:
        self.pos = pos
        self.reason = reason
        self.line = text.count("\n", 0, pos) + 1
        self.column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        super().__init__(f"{reason} (line {self.line}, column {self.column})")


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


@dataclass(slots=True)
class Element:
    """One member of an object or item of an array, with the exact text around it."""

    lead: str | None  # whitespace before (None: take the container's whitespace for its position)
    head: str  # object member: key text, whitespace, ':', whitespace; array item: ''
    key: str | None
    text: str  # the value's JSON text, verbatim
    value: Any
    trail: str | None  # whitespace after the value, before ',' or the closer
    was_first: bool = False
    was_last: bool = False
    parts: Container | None = None  # nodes/edges arrays: their items; items: their members (lazy)


@dataclass(slots=True)
class Container:
    """The elements of one JSON object or array and the whitespace inside it when empty."""

    opener: str  # '{' or '['
    elements: list[Element]
    empty: str = ""

    @property
    def closer(self) -> str:
        return "}" if self.opener == "{" else "]"

    def roles(self, fallback: _Roles) -> _Roles:
        """Whitespace this container uses for first / separating / middle / last positions."""
        els = self.elements
        if not els:
            return fallback
        return _Roles(
            first_lead=els[0].lead or "",
            sep_lead=(els[1].lead if len(els) > 1 else els[0].lead) or "",
            mid_trail=(els[0].trail if len(els) > 1 else "") or "",
            last_trail=els[-1].trail or "",
        )

    def render(self, elements: list[Element], fallback: _Roles) -> tuple[str, Container]:
        """Text of this container holding `elements`, and the container that text parses to."""
        if not elements:
            return self.opener + self.empty + self.closer, Container(self.opener, [], self.empty)
        roles = self.roles(fallback)
        last = len(elements) - 1
        out: list[str] = []
        placed: list[Element] = []
        for i, el in enumerate(elements):
            first, is_last = i == 0, i == last
            lead = el.lead if el.lead is not None and el.was_first == first else (
                roles.first_lead if first else roles.sep_lead)
            trail = el.trail if el.trail is not None and el.was_last == is_last else (
                roles.last_trail if is_last else roles.mid_trail)
            out.append(lead + el.head + el.text + trail)
            placed.append(Element(lead, el.head, el.key, el.text, el.value, trail, first, is_last, el.parts))
        return self.opener + ",".join(out) + self.closer, Container(self.opener, placed, self.empty)


# --------------------------------------------------------------------------------------------- parsing


def _ws(text: str, pos: int) -> int:
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
    while True:
        p = _ws(text, start)
        lead = text[start:p]
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
            head = text[p:vstart]
        else:
            vstart, head = p, ""
        parts: Container | None = None
        if split_arrays and key in ARRAY_KEYS and text.startswith("[", vstart):
            parts, vend = _parse_container(text, vstart, False)
            value: Any = [el.value for el in parts.elements]
        else:
            value, vend = _expect_value(text, vstart)
        t = _ws(text, vend)
        elements.append(Element(lead, head, key, text[vstart:vend], value, text[vend:t], parts=parts))
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
    """Equal as JSON values (1 == 1.0, but true != 1); `is` first so untouched objects cost nothing."""
    if a is b:
        return True
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and not isinstance(b, dict | list)


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
    if isinstance(value, dict):
        if not value:
            return "{}"
        pairs = [(encode_string(k) + layout.colon, v) for k, v in value.items()]
        return _dump_container("{", "}", pairs, layout, indent_prefix, multiline)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return _dump_container("[", "]", [("", v) for v in value], layout, indent_prefix, multiline)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _dump_container(opener: str, closer: str, pairs: list[tuple[str, Any]], layout: Layout,
                    indent_prefix: str, multiline: bool) -> str:
    if multiline:
        inner = indent_prefix + layout.indent
        body = ("," + layout.newline + inner).join(
            head + dump_value(v, layout, inner, True) for head, v in pairs)
        return f"{opener}{layout.newline}{inner}{body}{layout.newline}{indent_prefix}{closer}"
    sep = "," + layout.item_sep
    return opener + sep.join(head + dump_value(v, layout, indent_prefix, False) for head, v in pairs) + closer


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
    """Renders a new nodes/edges list against the items the file had."""

    def __init__(self, old: Container | None, layout: Layout, depth: int, template: Element | None) -> None:
        self.old = old
        self.layout = layout
        self.depth = depth
        self.template = template
        self._by_identity: dict[int, Element] | None = None
        self._by_id: dict[Any, list[Element]] | None = None
        self._used: set[int] = set()
        self._style: _ItemStyle | None = None

    def render(self, items: list[Any]) -> tuple[str, Container]:
        """Text and structure of the array holding `items`."""
        old = self.old or Container("[", [])
        elements = [self._element(item) for item in items]
        fallback = self.layout.roles(self.depth, self.layout.multiline)
        return old.render(elements, fallback)

    def _element(self, item: Any) -> Element:
        if self._by_identity is None:
            self._by_identity = {id(el.value): el for el in (self.old.elements if self.old else [])}
        el = self._by_identity.get(id(item))
        if el is not None and el.value is item and id(el) not in self._used:
            self._used.add(id(el))
            return el
        previous = self._previous(item)
        if previous is not None and _same(previous.value, item):
            return previous
        if previous is not None and isinstance(item, dict) and isinstance(previous.value, dict):
            return self._changed(previous, item)
        return Element(None, "", None, self._dump_new(item), item, None)

    def _previous(self, item: Any) -> Element | None:
        """The first unused old item with the same id as `item`."""
        if not isinstance(item, dict) or not self.old:
            return None
        if self._by_id is None:
            self._by_id = {}
            for el in self.old.elements:
                if isinstance(el.value, dict):
                    self._by_id.setdefault(el.value.get("id"), []).append(el)
        for el in self._by_id.get(item.get("id"), ()):
            if id(el) not in self._used:
                self._used.add(id(el))
                return el
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
        elements: list[Element] = []
        for key, value in item.items():
            old = by_key.get(key)
            if old is not None and _same(old.value, value):
                elements.append(old)
                continue
            nested_ml = multiline and style.nested_multiline
            text = dump_value(value, self.layout, prefix, nested_ml)
            if old is not None:
                elements.append(Element(old.lead, old.head, key, text, value, old.trail, old.was_first, old.was_last))
            else:
                elements.append(Element(None, encode_string(key) + colon, key, text, value, None))
        text, parts = members.render(elements, item_roles)
        return Element(previous.lead, "", None, text, item, previous.trail, previous.was_first,
                       previous.was_last, parts)

    def _dump_new(self, item: Any) -> str:
        style = self._item_style()
        if not isinstance(item, dict):
            return dump_value(item, self.layout, style.indent_prefix, False)
        elements = [
            Element(None, encode_string(k) + style.colon, k,
                    dump_value(v, self.layout, style.indent_prefix, style.multiline and style.nested_multiline),
                    v, None)
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


def _colon_of(member: Element) -> str:
    """The ':' with its surrounding whitespace, as a member's head has it."""
    head = member.head
    return head[head.rindex('"') + 1:] if '"' in head else ":"


# ----------------------------------------------------------------------------------------- the canvas


@dataclass(eq=False)
class CanvasText:
    """A canvas's text with its structure; `document` is the parsed canvas (treat it as read-only)."""

    text: str
    prefix: str  # BOM and whitespace before '{'
    root: Container
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
            return cls(text, text, Container("{", []), "", {})
        if body[start] != "{":
            if body[start] == "[":
                raise LayoutParseError(start, "a canvas must be a JSON object, not an array", body)
            _expect_value(body, start)
            raise LayoutParseError(start, "a canvas must be a JSON object", body)
        root, end = _parse_container(body, start, True)
        tail = _ws(body, end)
        if tail != len(body):
            raise LayoutParseError(tail, "unexpected text after the canvas object", body)
        document = {el.key: el.value for el in root.elements if el.key is not None}
        return cls(text, bom + body[:start], root, body[end:], document)

    @classmethod
    def new(cls) -> CanvasText:
        """An empty canvas that renders new content in Obsidian's layout."""
        return cls("", "", Container("{", []), "", {})

    @cached_property
    def layout(self) -> Layout:
        """The layout this file uses, learned from its own whitespace (Obsidian's for an empty file)."""
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
        if not self._members and self.root.elements:
            self._members = {el.key: el for el in self.root.elements if el.key is not None}
        return self._members.get(key)

    def render(self, document: JSONObject) -> CanvasText:
        """The canvas holding `document`, written in this file's layout with untouched text kept."""
        if document is self.document:
            return self
        layout = self.layout
        elements: list[Element] = []
        templates = {key: (self._array_elements(key) or [None])[-1] for key in ARRAY_KEYS}
        for key, value in document.items():
            old = self._member(key)
            if old is not None and old.value is value:
                elements.append(old)
                continue
            if key in ARRAY_KEYS and isinstance(value, list):
                other = templates[ARRAY_KEYS[1 - ARRAY_KEYS.index(key)]]
                old_parts = old.parts if old is not None else None
                text, parts = _ArrayRenderer(old_parts, layout, 1, other).render(value)
                head = old.head if old is not None else encode_string(key) + layout.colon
                elements.append(_replaced(old, head, key, text, value, parts))
            elif old is not None and _same(old.value, value):
                elements.append(old)
            else:
                prefix = _indent_of(old.lead) if old is not None else (layout.indent if layout.multiline else "")
                text = dump_value(value, layout, prefix, layout.multiline and layout.nested_multiline)
                head = old.head if old is not None else encode_string(key) + layout.colon
                elements.append(_replaced(old, head, key, text, value, None))
        body, root = self.root.render(elements, layout.roles(0, layout.multiline))
        text = self.prefix + body + self.suffix
        return CanvasText(text, self.prefix, root, self.suffix, document)


def _replaced(old: Element | None, head: str, key: str, text: str, value: Any, parts: Container | None) -> Element:
    if old is None:
        return Element(None, head, key, text, value, None, parts=parts)
    return Element(old.lead, head, key, text, value, old.trail, old.was_first, old.was_last, parts)
