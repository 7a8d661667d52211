"""Vaults: the folders canvasd serves, and the one place a client's path becomes a file path.

Every path that arrives from a client goes through `Vault.resolve`, which refuses absolute paths, `..`,
NUL bytes, anything under `.obsidian/`, files that are not `.canvas`, and symlinks that lead outside the
vault. What it returns is the real (symlink-free) path, so the engine, the cache and the watcher all name
a canvas the same way.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from canvasd.errors import CanvasPathError, InvalidPathError, VaultMissingError, VaultNotFoundError

CANVAS_SUFFIX = ".canvas"
OBSIDIAN_DIR = ".obsidian"


class Vault:
    """A named folder of canvases."""

    __slots__ = ("_real_root", "name", "root")

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root  # absolute, as configured (it may be a symlink, or missing for a while)
        self._real_root = os.path.realpath(root)

    def real_root(self) -> str:
        """The vault folder with symlinks resolved (kept; `refresh` after the folder was replaced)."""
        return self._real_root

    def refresh(self) -> None:
        """Resolve the folder again (it was removed and re-created, maybe as a different symlink)."""
        self._real_root = os.path.realpath(self.root)

    def exists(self) -> bool:
        """Whether the vault folder is there now (it may be on a removable drive)."""
        return self.root.is_dir()

    def require(self) -> str:
        """The real root, or VaultMissingError when the folder is gone."""
        if not self.exists():
            raise VaultMissingError(self.name, self.root)
        return self._real_root

    def resolve(self, relative: str) -> Path:
        """The real path of canvas `relative` (POSIX, relative to the vault); refuses anything unsafe."""
        return self.resolve_with_stat(relative)[0]

    def resolve_with_stat(self, relative: str) -> tuple[Path, os.stat_result | None]:
        """`resolve`, plus the file's stat when it is a plain file reached without symlinks (else None).

        Symlinks are followed and checked on every call; the stat saves the caller a second syscall.
        """
        parts = _clean_parts(relative)
        if parts[0] == OBSIDIAN_DIR:
            raise CanvasPathError(relative, "nothing under .obsidian/ is served or written")
        if not parts[-1].endswith(CANVAS_SUFFIX) or parts[-1] == CANVAS_SUFFIX:
            raise CanvasPathError(relative, "only .canvas files are served and written")
        real, st = self._walk(parts)
        root = self._real_root
        if not real.startswith(root + os.sep):
            raise CanvasPathError(relative, "it resolves to a file outside the vault")
        if real.startswith(OBSIDIAN_DIR + os.sep, len(root) + 1):
            raise CanvasPathError(relative, "it resolves to a file under .obsidian/")
        if not real.endswith(CANVAS_SUFFIX):
            raise CanvasPathError(relative, "it is a symlink to a file that is not a .canvas file")
        return Path(real), st

    def _walk(self, parts: list[str]) -> tuple[str, os.stat_result | None]:
        """The real path of root/parts: one lstat per component below the (already real) root, and a full
        realpath only when a component is a symlink or missing. Usually one lstat for a top-level canvas."""
        path = self._real_root
        st: os.stat_result | None = None
        for part in parts:
            path = path + os.sep + part
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            if st is None or stat.S_ISLNK(st.st_mode):
                return os.path.realpath(self._real_root + os.sep + os.sep.join(parts)), None
        return path, st if st is not None and stat.S_ISREG(st.st_mode) else None

    def relative(self, path: str | os.PathLike[str]) -> str | None:
        """The vault-relative POSIX path of a real path inside this vault, else None."""
        path = os.fspath(path)
        root = self._real_root
        if not path.startswith(root + os.sep):
            return None
        return path[len(root) + 1:].replace(os.sep, "/")

    def canvases(self) -> Iterator[tuple[str, Path]]:
        """(relative path, real path) of every canvas, skipping hidden folders (.obsidian, .trash, .git)."""
        self.require()
        self.refresh()  # the folder may have been replaced since the vault was configured
        root = self._real_root
        stack = [root]
        while stack:
            directory = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue  # removed or unreadable meanwhile: skip it
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.name.endswith(CANVAS_SUFFIX):
                    relative = os.path.relpath(entry.path, root).replace(os.sep, "/")
                    try:
                        yield relative, self.resolve(relative)
                    except CanvasPathError:
                        continue  # a symlink leading out of the vault is not listed


def _clean_parts(relative: str) -> list[str]:
    """The path's segments without '.' and empty ones; refuses what can never name a file in a vault."""
    if "\x00" in relative:
        raise InvalidPathError(relative, "it contains a NUL byte")
    if "\\" in relative:
        raise InvalidPathError(relative, "use '/' to separate folders")
    if relative.startswith("/"):
        raise InvalidPathError(relative, "it is absolute; give a path relative to the vault")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts:
        raise InvalidPathError(relative, "it is empty")
    if ".." in parts:
        raise CanvasPathError(relative, "'..' may not leave the vault")
    return parts


class VaultRegistry:
    """The configured vaults by name."""

    def __init__(self, vaults: Mapping[str, Path]) -> None:
        self._vaults = {name: Vault(name, Path(os.path.abspath(root))) for name, root in vaults.items()}

    def get(self, name: str) -> Vault:
        """The vault called `name`, or VaultNotFoundError."""
        try:
            return self._vaults[name]
        except KeyError:
            raise VaultNotFoundError(name, sorted(self._vaults)) from None

    def __iter__(self) -> Iterator[Vault]:
        return iter(self._vaults.values())

    def __len__(self) -> int:
        return len(self._vaults)

    def locate(self, path: str | os.PathLike[str]) -> tuple[Vault, str] | None:
        """Which vault a real file path belongs to, and its relative path there."""
        for vault in self._vaults.values():
            relative = vault.relative(path)
            if relative is not None:
                return vault, relative
        return None
