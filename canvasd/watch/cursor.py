"""The change feed's cursor kept across restarts, so a client's cursor from an earlier run is never reissued."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


class CursorStore:
    """The feed's cursor kept across restarts: one small file in the data dir, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int:
        """The saved cursor; 0 when the file is absent or unreadable."""
        try:
            value = int(self.path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            log.warning("event cursor file %s is unreadable (%s); starting the feed from 0", self.path, exc)
            return 0
        return max(value, 0)

    def save(self, cursor: int) -> None:
        """Write `cursor` durably: a temp file in the same folder, fsync, rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{cursor}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
