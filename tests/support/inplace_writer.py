"""Child program: edits canvases the way Obsidian saves them (truncate and rewrite in place) until told to stop.

    python tests/support/inplace_writer.py STOP_FILE CANVAS...

Round after round it adds one node `ext-<canvas index>-<n>` to each canvas, far above everything else (y < 0,
so it never lands where an agent places nodes). It is a careful writer: it rewrites a file only if the file is
still what it read (same inode, size and mtime), and counts an edit as done only if, after writing, the path
still names the file it wrote (no rename replaced it meanwhile; checked before the file is closed, since an
inode number is reused once its file is gone); otherwise it reads again and redoes the edit.
After each done edit it prints `ext <node id>`. It stops when STOP_FILE exists (or after MAX_SECONDS).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

MAX_SECONDS = 120.0
PAUSE_S = 0.2  # a save per canvas every 0.2 s: ten times as often as Obsidian saves an open canvas


def node(canvas: int, n: int) -> dict[str, object]:
    return {"id": f"ext-{canvas}-{n}", "type": "text", "text": f"external edit {n}", "x": n * 220,
            "y": -2000 - canvas * 200, "width": 200, "height": 60}


def edit_once(path: Path, new: dict[str, object]) -> bool:
    """Add `new` to the canvas in place; False when another writer got in between (nothing counted)."""
    with path.open("rb") as f:
        before = os.fstat(f.fileno())
        data = f.read()
    try:
        doc = json.loads(data)
    except ValueError:
        return False  # caught mid-write by another writer: read again
    if any(isinstance(n, dict) and n.get("id") == new["id"] for n in doc["nodes"]):
        return True  # the edit is there already (put back by the other writer after a clash)
    doc["nodes"].append(new)
    out = json.dumps(doc, indent="\t", ensure_ascii=False).encode()
    fd = os.open(path, os.O_RDWR)
    try:
        now = os.fstat(fd)
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns):
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, out, 0)
        os.fsync(fd)
        # Checked while the file is still open: once closed, an unlinked file's inode number can be reused at
        # once by the next file created, and the check would be fooled.
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    finally:
        os.close(fd)


def main() -> None:
    stop, canvases = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    deadline = time.monotonic() + MAX_SECONDS
    n = 0
    while not stop.exists() and time.monotonic() < deadline:
        for index, path in enumerate(canvases):
            new = node(index, n)
            while not edit_once(path, new):
                time.sleep(0.001)
            print(f"ext {new['id']}", flush=True)
        n += 1
        time.sleep(PAUSE_S)


if __name__ == "__main__":
    main()
