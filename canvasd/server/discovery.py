"""The discovery file: where a running daemon listens, for clients that cannot be told (the Obsidian plugin).

`data_dir/daemon.json` holds {"socket", "tcp_port", "token_file", "pid", "version", "started"}. It is written
(atomically, 0600) once the API answers and removed at shutdown if it is still this daemon's; a killed daemon
leaves it behind, so a client checks that the socket answers (or that `pid` is alive) before trusting it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from canvasd import __version__

FILE_NAME = "daemon.json"


def write_discovery(data_dir: Path, socket: Path, *, tcp_port: int | None, token_file: Path | None,
                    started: float) -> Path:
    """Write the discovery file for this process; its path."""
    target = data_dir / FILE_NAME
    data = {"socket": str(socket), "tcp_port": tcp_port or None,
            "token_file": str(token_file) if token_file is not None else None, "pid": os.getpid(),
            "version": __version__, "started": round(started, 3)}
    temp = target.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(temp, target)
    return target


def remove_discovery(data_dir: Path) -> None:
    """Remove the discovery file if this process wrote it (another daemon may have started since)."""
    target = data_dir / FILE_NAME
    try:
        if json.loads(target.read_text(encoding="utf-8")).get("pid") != os.getpid():
            return
    except (OSError, ValueError, AttributeError):
        return
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
