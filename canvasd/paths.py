"""Where canvasd keeps its socket and its state by default (standard library only: the CLI imports it)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

SOCKET_NAME = "canvasd.sock"


def default_socket_path() -> Path:
    """`$XDG_RUNTIME_DIR/canvasd/canvasd.sock`, or a per-user directory in the temp folder without it."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "canvasd" / SOCKET_NAME
    return Path(tempfile.gettempdir()) / f"canvasd-{os.getuid()}" / SOCKET_NAME


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/canvasd` (`~/.local/share/canvasd`), or Application Support on macOS."""
    data_home = os.environ.get("XDG_DATA_HOME")
    if data_home:
        return Path(data_home) / "canvasd"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "canvasd"
    return Path.home() / ".local" / "share" / "canvasd"


def client_socket_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The socket a client talks to: `explicit`, else `$CANVASD_DAEMON__SOCKET`, else the default."""
    if explicit:
        return Path(explicit)
    configured = os.environ.get("CANVASD_DAEMON__SOCKET")
    return Path(configured) if configured else default_socket_path()
