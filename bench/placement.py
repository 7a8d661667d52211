"""Placement benchmark: blocks of 7 new nodes placed on a generated 12,000-node canvas, spatial index vs linear scan.

The canvas holds 120 clusters of cards on a loose grid (half of them inside a group), as a big study canvas
does. 200 blocks of 7 text nodes are placed next to random cards, one after another (each block becomes an
obstacle for the next), first by `Placer` (grid of buckets), then by a variant that checks every obstacle for
every candidate position; both must give the same boxes. Prints p50/p95 per block and the ratio, then one
line of JSON.

    .venv/bin/python bench/placement.py
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

from report import fmt, gain, pct

from canvasd.agents.placement import Box, Placer, box_of, text_size

CLUSTERS, CARDS, BLOCKS, BLOCK_SIZE = 120, 100, 200, 7


class LinearScanPlacer(Placer):
    """The baseline: every obstacle is a candidate for every query (no spatial index)."""

    def _near(self, frame: Box) -> Iterator[Box]:
        return iter(self._grid.boxes)


def make_canvas(seed: int = 7) -> list[dict]:
    """12,000 nodes: 120 clusters of 10x10 cards of mixed sizes; every other cluster's first card is a group."""
    rng = random.Random(seed)
    nodes: list[dict] = []
    for c in range(CLUSTERS):
        ox, oy = (c % 12) * 5600, (c // 12) * 4000
        cards = [{"id": f"c{c}-{k}", "type": "text", "text": "", "x": ox + (k % 10) * 460 + rng.randint(0, 40),
                  "y": oy + (k // 10) * 320 + rng.randint(0, 40), "width": rng.randint(250, 400),
                  "height": rng.randint(60, 260)} for k in range(CARDS)]
        if c % 2:
            cards[0] = {"id": f"g{c}", "type": "group", "label": f"topic {c}", "x": ox - 60, "y": oy - 60,
                        "width": 4800, "height": 3400}
        nodes += cards
    return nodes


def run(placer_class: type[Placer], nodes: list[dict], sources: list[Box],
        sizes: list[tuple[int, int]]) -> tuple[list[float], list[list[Box]], float]:
    """Per-block times (ms), the boxes, and the time to build the placer (ms)."""
    start = time.perf_counter()
    placer = placer_class(nodes)
    build_ms = (time.perf_counter() - start) * 1000
    times, boxes = [], []
    for source in sources:
        start = time.perf_counter()
        boxes.append(placer.place(source, sizes))
        times.append((time.perf_counter() - start) * 1000)
    return times, boxes, build_ms


def main() -> None:
    nodes = make_canvas()
    rng = random.Random(11)
    cards = [box for node in nodes if node["type"] == "text" and (box := box_of(node)) is not None]
    sources = [rng.choice(cards) for _ in range(BLOCKS)]
    sizes = [text_size(f"Question {k}: why does this step follow from the one before it? " * (1 + k % 3))
             for k in range(BLOCK_SIZE)]
    grid_ms, grid_boxes, grid_build = run(Placer, nodes, sources, sizes)
    scan_ms, scan_boxes, scan_build = run(LinearScanPlacer, nodes, sources, sizes)
    assert grid_boxes == scan_boxes, "the index and the linear scan disagree"
    figures = {"nodes": len(nodes), "blocks": BLOCKS, "block_size": BLOCK_SIZE,
               "grid_ms": {"p50": pct(grid_ms, 0.5), "p95": pct(grid_ms, 0.95), "build": grid_build},
               "scan_ms": {"p50": pct(scan_ms, 0.5), "p95": pct(scan_ms, 0.95), "build": scan_build}}
    figures["gain_p50"] = gain(figures["grid_ms"]["p50"], figures["scan_ms"]["p50"], higher_is_better=False)
    figures["gain_p95"] = gain(figures["grid_ms"]["p95"], figures["scan_ms"]["p95"], higher_is_better=False)
    print(f"placing {BLOCKS} blocks of {BLOCK_SIZE} on a {len(nodes):,}-node canvas (ms per block)")
    print(f"  {'':<12} {'p50':>8} {'p95':>8} {'build':>8}")
    for name in ("grid", "scan"):
        f = figures[f"{name}_ms"]
        print(f"  {name:<12} {fmt(f['p50']):>8} {fmt(f['p95']):>8} {fmt(f['build']):>8}")
    print(f"  linear scan / grid: {fmt(figures['gain_p50'])}x at p50, {fmt(figures['gain_p95'])}x at p95")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
