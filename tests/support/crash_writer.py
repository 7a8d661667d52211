"""Child program for test_crash_safety.py: writes to one canvas in a loop until it is killed.

    python tests/crash_writer.py CANVAS_PATH START_INDEX

The canvas must exist and hold nodes n0..n<START_INDEX - 1>. The program prints `ready` once its engine
exists, then adds n<START_INDEX>, n<START_INDEX + 1>, ... for ever: mostly one `apply` at a time, and
every fourth step a group of concurrent `submit`s that the batching writer coalesces into one write.
After each acknowledgement (the write is durable) it prints `ack <node id> <version>` and flushes.

Every write request adds exactly one node, and some also recolour an older node in the same patch, so
the canvas after node n<k> is committed is a function of k alone (`expected_nodes`): the parent test
can tell precisely which committed state the file is in after a kill. It exits by itself only when its
parent is gone or after `MAX_SECONDS`, so an interrupted test run cannot leave it looping.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

COLORS = ("1", "2", "3", "4", "5", "6")
MAX_SECONDS = 60.0
BATCH_WRITER = {"enabled": True, "window_ms": 5, "max_delay_ms": 20, "fsync": True}


def make_node(index: int) -> dict[str, Any]:
    """Node n<index> as it is added."""
    return {
        "id": f"n{index}",
        "type": "text",
        "text": f"Knoten {index} – " + "ä" * (index % 7),
        "x": (index % 25) * 300,
        "y": (index // 25) * 100,
        "width": 250,
        "height": 60,
    }


def recolour_for(index: int) -> tuple[str, str] | None:
    """(node id, colour) that the patch adding n<index> also recolours with update_node, if any."""
    if index % 5 != 4:
        return None
    return f"n{index // 2}", COLORS[index % len(COLORS)]


def patch_ops(index: int) -> list[dict[str, Any]]:
    """The ops of the one write request that adds n<index>."""
    ops: list[dict[str, Any]] = [{"op": "add_node", "node": make_node(index)}]
    recolour = recolour_for(index)
    if recolour is not None:
        ops.append({"op": "update_node", "id": recolour[0], "set": {"color": recolour[1]}})
    return ops


def expected_nodes(count: int) -> list[dict[str, Any]]:
    """The nodes of the canvas once n0..n<count - 1> are committed."""
    nodes = [make_node(i) for i in range(count)]
    for i in range(count):
        recolour = recolour_for(i)
        if recolour is not None:
            nodes[int(recolour[0][1:])]["color"] = recolour[1]
    return nodes


def group_size(index: int) -> int:
    """How many concurrent submits the step starting at n<index> makes (1: a plain apply)."""
    return 2 + (index // 4) % 5 if index % 4 == 3 else 1


def main(argv: list[str]) -> int:
    from canvasd.canvas import CanvasEngine, Patch
    from canvasd.config import load_settings

    path = Path(argv[1])
    index = int(argv[2])
    parent = os.getppid()
    deadline = time.monotonic() + MAX_SECONDS
    out = sys.stdout
    settings = load_settings(batch_writer=BATCH_WRITER)
    with CanvasEngine(settings) as engine:
        print("ready", file=out, flush=True)
        while os.getppid() == parent and time.monotonic() < deadline:
            size = group_size(index)
            if size == 1:
                result = engine.apply(path, Patch(patch_ops(index)))
                print(f"ack n{index} {result.version}", file=out, flush=True)
            else:
                futures = [(f"n{i}", engine.submit(path, Patch(patch_ops(i)))) for i in range(index, index + size)]
                for node_id, future in futures:
                    result = future.result()
                    print(f"ack {node_id} {result.version}", file=out, flush=True)
            index += size
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
