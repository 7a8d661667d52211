"""Where new nodes go: sizes for text nodes, free space next to their source, and the sides of their edges.

The runner builds one `Placer` from the canvas it is about to write (every existing node and group is an
obstacle, a group's whole rectangle included) and asks it to `place` each block of new nodes next to its
source. Every placed box becomes an obstacle too, so later blocks, for the same source or another one, never
land on earlier ones. Everything here is deterministic: the same canvas and requests give the same boxes.

Overlap queries go through a spatial index (uniform grids of buckets, one grid per size class), so a
placement costs a few bucket lookups however large the canvas is.
"""

from __future__ import annotations

import heapq
import math
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Literal

MAX_COORDINATE = 2.0**53
"""Largest coordinate or size accepted as geometry: beyond it floats no longer hold every whole pixel."""

CHAR_PX = 8          # an average Latin character of Obsidian's default canvas font
LINE_PX = 26         # one line of text
PAD_X, PAD_Y = 40, 24  # a text node's padding, left + right and top + bottom
MIN_WIDTH, WRAP_WIDTH, MAX_WIDTH, MIN_HEIGHT = 250, 400, 600, 60
HEADING_SCALE = 1.4  # '#', '##' and '###' headings are set larger than body text
LONG_WRAP_PX = 8 * LINE_PX
"""Prose that wraps into more than this many extra pixels of height at WRAP_WIDTH is set at MAX_WIDTH."""


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned rectangle in canvas coordinates (y grows downwards)."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """The x of the right edge."""
        return self.x + self.width

    @property
    def bottom(self) -> float:
        """The y of the bottom edge."""
        return self.y + self.height

    @property
    def centre(self) -> tuple[float, float]:
        """The centre point (x, y)."""
        return self.x + self.width / 2, self.y + self.height / 2

    def overlaps(self, other: Box, gap: float = 0) -> bool:
        """Whether the boxes come closer than `gap` (with gap 0: share area; touching edges do not count)."""
        return (self.x < other.right + gap and other.x < self.right + gap
                and self.y < other.bottom + gap and other.y < self.bottom + gap)


def box_of(node: Mapping[str, Any]) -> Box | None:
    """The node's rectangle, or None when it is not a mapping with finite numeric x, y and positive size."""
    if not isinstance(node, Mapping):
        return None
    geometry: tuple[Any, Any, Any, Any] = (node.get("x"), node.get("y"), node.get("width"), node.get("height"))
    x, y, width, height = geometry
    if not _are_coordinates(x, y, width, height) or width <= 0 or height <= 0:
        return None
    return Box(x, y, width, height)


def _are_coordinates(*values: Any) -> bool:
    """Whether every value is a number (not a boolean) between -MAX_COORDINATE and MAX_COORDINATE."""
    for value in values:
        is_plain = type(value) is int or type(value) is float  # the common case first, for speed
        if not is_plain and (not isinstance(value, int | float) or isinstance(value, bool)):
            return False
        if not -MAX_COORDINATE <= value <= MAX_COORDINATE:  # also rejects nan and infinities
            return False
    return True


# --- text size -------------------------------------------------------------------------------------------

def text_size(text: str) -> tuple[int, int]:
    """(width, height) of a text node showing `text` as markdown.

    Prose grows from MIN_WIDTH to WRAP_WIDTH, then wraps; prose that wraps a lot and table rows (which do not
    wrap) may make the node up to MAX_WIDTH wide. A longer text (the same text with more appended) is never
    smaller in either direction.
    """
    prose: list[tuple[float, float]] = []  # (width in px, scale) per line
    table: list[float] = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("|"):
            table.append((_units(stripped) + stripped.count("|")) * CHAR_PX)  # cell padding around the pipes
        else:
            scale = HEADING_SCALE if _is_heading(stripped) else 1.0
            prose.append((_units(stripped) * CHAR_PX * scale, scale))  # markdown drops leading spaces
    prose_width, prose_height = _prose_size(prose)
    table_width = min(MAX_WIDTH, max((w + PAD_X for w in table), default=0))
    table_height = sum(_wrapped(w, MAX_WIDTH) * LINE_PX for w in table)
    width = max(prose_width, table_width)
    return math.ceil(width), max(MIN_HEIGHT, math.ceil(PAD_Y + prose_height + table_height))


def _prose_size(lines: list[tuple[float, float]]) -> tuple[float, float]:
    """(width, height) of prose lines: natural width up to WRAP_WIDTH, or MAX_WIDTH when it wraps a lot."""
    if not lines:
        return MIN_WIDTH, 0
    unwrapped = sum(LINE_PX * scale for _, scale in lines)
    at_wrap = sum(_wrapped(w, WRAP_WIDTH) * LINE_PX * scale for w, scale in lines)
    if at_wrap - unwrapped <= LONG_WRAP_PX:
        natural = max(w for w, _ in lines) + PAD_X
        return min(WRAP_WIDTH, max(MIN_WIDTH, natural)), at_wrap
    at_max = sum(_wrapped(w, MAX_WIDTH) * LINE_PX * scale for w, scale in lines)
    # never shorter than the text just below the switch could be, so appending text never shrinks the node
    return MAX_WIDTH, max(at_max, unwrapped + LONG_WRAP_PX)


def _wrapped(line_px: float, node_width: int) -> int:
    """How many rows a line of this width takes in a node this wide."""
    return max(1, math.ceil(line_px / (node_width - PAD_X)))


def _is_heading(line: str) -> bool:
    hashes = len(line) - len(line.lstrip("#"))
    return 1 <= hashes <= 3 and line[hashes:hashes + 1] == " "


def _units(line: str) -> int:
    """The line's width in Latin-character units: CJK and other wide characters count 2, marks count 0."""
    if line.isascii():
        return len(line) + 3 * line.count("\t") - line.count("\r")
    return sum(_char_units(c) for c in line)


@lru_cache(maxsize=4096)
def _char_units(char: str) -> int:
    if char.isascii():
        return 4 if char == "\t" else 0 if char == "\r" else 1
    if unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


# --- edge sides ------------------------------------------------------------------------------------------

def sides(a: Box, b: Box) -> tuple[str, str]:
    """(fromSide, toSide) for an edge from `a` to `b`: left/right when `b` is mostly beside `a`, top/bottom
    when mostly above or below it (centre offsets measured against the boxes' sizes; a tie counts as beside)."""
    (ax, ay), (bx, by) = a.centre, b.centre
    dx, dy = bx - ax, by - ay
    across = abs(dx) / max((a.width + b.width) / 2, 1e-9)
    down = abs(dy) / max((a.height + b.height) / 2, 1e-9)
    if across >= down:
        return ("right", "left") if dx >= 0 else ("left", "right")
    return ("bottom", "top") if dy >= 0 else ("top", "bottom")


# --- spatial index ---------------------------------------------------------------------------------------

class _Grid:
    """Boxes in uniform grids of buckets: a box of size s lives in the grid whose cells are at least s wide,
    so it fills at most 2x2 cells there; a query visits the cells it covers in every grid in use."""

    CELL = 256

    def __init__(self) -> None:
        self.boxes: list[Box] = []
        self._levels: dict[int, dict[tuple[int, int], list[int]]] = {}
        self._order: list[int] = []  # levels in use, ascending

    def add(self, box: Box) -> None:
        """Index one more box."""
        index = len(self.boxes)
        self.boxes.append(box)
        level = (math.ceil(max(box.width, box.height) / self.CELL) - 1).bit_length()
        cells = self._levels.get(level)
        if cells is None:
            cells = self._levels[level] = {}
            self._order = sorted(self._levels)
        size = self.CELL << level
        for cx in range(math.floor(box.x / size), math.floor(box.right / size) + 1):
            for cy in range(math.floor(box.y / size), math.floor(box.bottom / size) + 1):
                cells.setdefault((cx, cy), []).append(index)

    def near(self, x0: float, y0: float, x1: float, y1: float) -> Iterator[int]:
        """Indices of boxes whose cells meet the rectangle [x0, x1] x [y0, y1] (a superset of those meeting
        it; a box may come more than once)."""
        for level in self._order:
            cells = self._levels[level]
            size = self.CELL << level
            cx0, cx1 = math.floor(x0 / size), math.floor(x1 / size)
            cy0, cy1 = math.floor(y0 / size), math.floor(y1 / size)
            if (cx1 - cx0 + 1) * (cy1 - cy0 + 1) <= len(cells):
                for cx in range(cx0, cx1 + 1):
                    for cy in range(cy0, cy1 + 1):
                        yield from cells.get((cx, cy), ())
            else:  # a query larger than the grid: walk the occupied cells instead
                for (cx, cy), bucket in cells.items():
                    if cx0 <= cx <= cx1 and cy0 <= cy <= cy1:
                        yield from bucket


# --- placement -------------------------------------------------------------------------------------------

_Direction = Literal["right", "below", "left", "above"]
_PREFERENCE: dict[str, tuple[_Direction, ...]] = {
    "column": ("right", "below", "left", "above"),
    "row": ("below", "right", "left", "above"),
}


class Placer:
    """Free space on one canvas: places blocks of new nodes next to their sources, never on anything.

    `nodes` are the canvas's node entries as found on disk; every one with valid geometry (groups included,
    with their whole rectangle) is an obstacle, the rest are ignored.
    """

    GAP: ClassVar[int] = 40
    """Space kept between a new node and its source, its block neighbours and every obstacle."""
    MAX_PROBES: ClassVar[int] = 32
    """Looks ahead along one direction (each twice as far as the one before) before the block goes past
    everything on that side."""

    def __init__(self, nodes: Iterable[Any]) -> None:
        self._grid = _Grid()
        self._bounds = [math.inf, math.inf, -math.inf, -math.inf]  # left, top, right, bottom of all obstacles
        for node in nodes:
            box = box_of(node)
            if box is not None:
                self._add(box)

    def obstacle_count(self) -> int:
        """How many boxes new nodes must avoid (valid existing nodes plus every box placed so far)."""
        return len(self._grid.boxes)

    def place(self, source: Box, sizes: Sequence[tuple[int, int]], *,
              stack: Literal["column", "row"] = "column") -> list[Box]:
        """Boxes for a block of new nodes of these (width, height) sizes, in order, next to `source`.

        "column" stacks them top to bottom, GAP apart, and puts the block right of the source (top-aligned),
        else below, left or above it; "row" lines them up left to right and prefers below the source. The
        nearest free position wins, the preferred side on a tie. The boxes become obstacles.
        """
        dims = [(max(1, math.ceil(w)), max(1, math.ceil(h))) for w, h in sizes]
        if not dims:
            return []
        block = _block_size(dims, stack, self.GAP)
        frame, direction = self._free_frame(source, block, _PREFERENCE[stack])
        boxes = _lay_out(frame, dims, stack, self.GAP, side=direction)
        for box in boxes:
            self._add(box)
        return boxes

    # candidates --------------------------------------------------------------------------------------

    def _free_frame(self, source: Box, block: tuple[int, int],
                    directions: Sequence[_Direction]) -> tuple[Box, _Direction]:
        """The nearest free position (and its direction) for a block of this size next to `source`.

        Each direction is a ray of candidate offsets from the source that only grow; the nearest untried
        candidate of all rays is tried next (the preferred direction on a tie), so the first free one is the
        nearest found. A ray ends past everything on its side, which is always free, so the search tries at
        most MAX_PROBES + 2 candidates per direction.
        """
        anchor = _Anchor.of(source)
        heap = [(self.GAP, rank, 0) for rank in range(len(directions))]
        while True:
            offset, rank, probes = heapq.heappop(heap)
            direction = directions[rank]
            frame = anchor.frame(direction, offset, block)
            if not self._blocked(frame):
                return frame, direction
            heapq.heappush(heap, (self._next_offset(anchor, direction, offset, block, probes), rank, probes + 1))

    def _next_offset(self, anchor: _Anchor, direction: _Direction, offset: int, block: tuple[int, int],
                     probes: int) -> int:
        """The first offset past a blocked `offset` where the block clears every obstacle in a stretch ahead
        (twice as long as on the previous call for this direction), or past everything once probes run out."""
        if probes >= self.MAX_PROBES:
            left, top, right, bottom = self._bounds
            _, past = anchor.blocked_offsets(direction, Box(left, top, right - left, bottom - top), block, self.GAP)
            return max(offset + 1, math.ceil(past))
        ahead = (_length_along(direction, block) + 2 * self.GAP) << probes
        in_way = self._hits(_stretched(anchor.frame(direction, offset, block), direction, ahead))
        return max(offset + 1, anchor.first_clear(direction, in_way, block, offset, self.GAP))

    # obstacles ---------------------------------------------------------------------------------------

    def _blocked(self, frame: Box) -> bool:
        """Whether any obstacle comes within GAP of `frame`."""
        return any(box.overlaps(frame, self.GAP) for box in self._near(frame))

    def _hits(self, frame: Box) -> list[Box]:
        """The obstacles that come within GAP of `frame` (repeats possible)."""
        return [box for box in self._near(frame) if box.overlaps(frame, self.GAP)]

    def _near(self, frame: Box) -> Iterator[Box]:
        """Obstacles that may come within GAP of `frame`: a superset from the spatial index, repeats possible."""
        gap, boxes = self.GAP, self._grid.boxes
        for i in self._grid.near(frame.x - gap, frame.y - gap, frame.right + gap, frame.bottom + gap):
            yield boxes[i]

    def _add(self, box: Box) -> None:
        self._grid.add(box)
        bounds = self._bounds
        bounds[0], bounds[1] = min(bounds[0], box.x), min(bounds[1], box.y)
        bounds[2], bounds[3] = max(bounds[2], box.right), max(bounds[3], box.bottom)


@dataclass(frozen=True, slots=True)
class _Anchor:
    """A source's edges in whole pixels, from which blocks are offset."""

    left: int
    top: int
    right: int
    bottom: int

    @classmethod
    def of(cls, source: Box) -> _Anchor:
        return cls(math.floor(source.x), math.floor(source.y), math.ceil(source.right), math.ceil(source.bottom))

    def frame(self, direction: _Direction, offset: int, block: tuple[int, int]) -> Box:
        """The block's rectangle `offset` pixels away from the source in `direction`, aligned with the
        source's top (beside it) or left edge (above or below it)."""
        width, height = block
        if direction == "right":
            return Box(self.right + offset, self.top, width, height)
        if direction == "left":
            return Box(self.left - offset - width, self.top, width, height)
        if direction == "below":
            return Box(self.left, self.bottom + offset, width, height)
        return Box(self.left, self.top - offset - height, width, height)

    def blocked_offsets(self, direction: _Direction, box: Box, block: tuple[int, int],
                        gap: int) -> tuple[float, float]:
        """(low, high): the block in `direction` comes within `gap` of `box` at offsets strictly between them,
        provided the box lies across the block's path (as every obstacle found in a probe along it does)."""
        width, height = block
        if direction == "right":
            return box.x - gap - width - self.right, box.right + gap - self.right
        if direction == "left":
            return self.left - width - box.right - gap, self.left + gap - box.x
        if direction == "below":
            return box.y - gap - height - self.bottom, box.bottom + gap - self.bottom
        return self.top - height - box.bottom - gap, self.top + gap - box.y

    def first_clear(self, direction: _Direction, in_way: Iterable[Box], block: tuple[int, int], offset: int,
                    gap: int) -> int:
        """The smallest offset from `offset` on at which the block clears every box in `in_way`."""
        clear = offset
        for low, high in sorted(self.blocked_offsets(direction, box, block, gap) for box in in_way):
            if clear <= low:
                break
            clear = max(clear, math.ceil(high))
        return clear


def _stretched(frame: Box, direction: _Direction, length: int) -> Box:
    """`frame` extended `length` pixels further in `direction`."""
    if direction == "right":
        return Box(frame.x, frame.y, frame.width + length, frame.height)
    if direction == "left":
        return Box(frame.x - length, frame.y, frame.width + length, frame.height)
    if direction == "below":
        return Box(frame.x, frame.y, frame.width, frame.height + length)
    return Box(frame.x, frame.y - length, frame.width, frame.height + length)


def _length_along(direction: _Direction, block: tuple[int, int]) -> int:
    """The block's size along `direction`."""
    return block[0] if direction in ("right", "left") else block[1]


def _block_size(dims: Sequence[tuple[int, int]], stack: str, gap: int) -> tuple[int, int]:
    """(width, height) of nodes of these sizes stacked `gap` apart in a column or a row."""
    between = gap * (len(dims) - 1)
    if stack == "column":
        return max(w for w, _ in dims), sum(h for _, h in dims) + between
    return sum(w for w, _ in dims) + between, max(h for _, h in dims)


def _lay_out(frame: Box, dims: Sequence[tuple[int, int]], stack: str, gap: int, *,
             side: _Direction) -> list[Box]:
    """The nodes' boxes inside the block's `frame`, in order, `gap` apart; nodes narrower (or lower) than the
    block keep to the edge that faces the source (the block lies on this `side` of it)."""
    boxes: list[Box] = []
    x, y = int(frame.x), int(frame.y)
    for width, height in dims:
        if stack == "column":
            left = int(frame.right) - width if side == "left" else x
            boxes.append(Box(left, y, width, height))
            y += height + gap
        else:
            top = int(frame.bottom) - height if side == "above" else y
            boxes.append(Box(x, top, width, height))
            x += width + gap
    return boxes
