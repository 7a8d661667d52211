"""Vaults: the folders canvasd serves, and the one place a client's path becomes a file path.

Every path that arrives from a client goes through `Vault.resolve`, which refuses absolute paths, `..`,
NUL bytes, anything under `.obsidian/`, files that are not `.canvas`, and symlinks that lead outside the
vault. What it returns is the real (symlink-free) path, so the engine, the cache and the watcher all name
a canvas the same way.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from canvasd.errors import (
    CanvasdError,
    CanvasNotFoundError,
    CanvasPathError,
    InvalidPathError,
    VaultMissingError,
    VaultNotFoundError,
)

CANVAS_SUFFIX = ".canvas"
OBSIDIAN_DIR = ".obsidian"
NAME_MAX = 255  # bytes in one file name, where the file system does not say (pathconf)
PATH_MAX = 4096  # bytes in a whole path, terminating NUL included, where the file system does not say
TEMP_ROOM = 40  # a commit's temp file name may be this much longer than the canvas's (atomic.temp_name)


class Vault:
    """A named folder of canvases."""

    __slots__ = ("_limits", "_real_root", "name", "root")

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root  # absolute, as configured (it may be a symlink, or missing for a while)
        self._real_root = os.path.realpath(root)
        self._limits: tuple[int, int] | None = None

    def real_root(self) -> str:
        """The vault folder with symlinks resolved (kept; `refresh` after the folder was replaced)."""
        return self._real_root

    def refresh(self) -> None:
        """Resolve the folder again (it was removed and re-created, maybe as a different symlink)."""
        self._real_root = os.path.realpath(self.root)
        self._limits = None

    def name_limits(self) -> tuple[int, int]:
        """(NAME_MAX, PATH_MAX) of the vault's file system, in bytes (asked once, defaults if it cannot say)."""
        if self._limits is None:
            limits = []
            for name, default in (("PC_NAME_MAX", NAME_MAX), ("PC_PATH_MAX", PATH_MAX)):
                try:
                    value = os.pathconf(self._real_root, name)
                except (OSError, ValueError):
                    value = -1
                limits.append(value if value > 0 else default)
            if not os.path.isdir(self._real_root):
                return limits[0], limits[1]  # the folder is away: ask again once it is back
            self._limits = (limits[0], limits[1])
        return self._limits

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
        self._check_lengths(relative, parts)
        real, st = self._walk(relative, parts)
        root = self._real_root
        if not real.startswith(root + os.sep):
            raise CanvasPathError(relative, "it resolves to a file outside the vault")
        if real.startswith(OBSIDIAN_DIR + os.sep, len(root) + 1):
            raise CanvasPathError(relative, "it resolves to a file under .obsidian/")
        if not real.endswith(CANVAS_SUFFIX):
            raise CanvasPathError(relative, "it is a symlink to a file that is not a .canvas file")
        return Path(real), st

    def _check_lengths(self, relative: str, parts: list[str]) -> None:
        """Refuse a path the file system cannot hold (NAME_MAX per segment, PATH_MAX in all) before any syscall
        sees it; the whole-path limit keeps room for the temp file a commit writes next to the canvas."""
        name_max, path_max = self.name_limits()
        try:
            sizes = [len(os.fsencode(part)) for part in parts]
        except UnicodeEncodeError:  # a lone surrogate (only callers in Python can pass one)
            raise InvalidPathError(relative, "it is not valid Unicode text") from None
        longest = max(sizes)
        if longest > name_max:
            raise InvalidPathError(relative, f"a path segment is {longest} bytes; the file system allows {name_max}")
        total = len(os.fsencode(self._real_root)) + sum(sizes) + len(sizes)
        allowed = path_max - 1 - TEMP_ROOM
        if total > allowed:
            raise InvalidPathError(relative, f"the full path in the vault's folder is {total} bytes; the file system "
                                   f"allows {allowed} (PATH_MAX {path_max}, less room for a temp file)")

    def _walk(self, relative: str, parts: list[str]) -> tuple[str, os.stat_result | None]:
        """The real path of root/parts: one lstat per component below the (already real) root, and a full
        realpath only when a component is a symlink or missing. Usually one lstat for a top-level canvas.

        A path that can never be read nor written (a file where a folder should be, a folder that cannot be
        entered, a symlink loop) is refused here, with the component to blame."""
        path = self._real_root
        st: os.stat_result | None = None
        last = len(parts) - 1
        for i, part in enumerate(parts):
            path = path + os.sep + part
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                st = None
            except OSError as exc:
                raise _component_refusal(relative, parts, i, exc) from None
            if st is None or stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(self._real_root + os.sep + os.sep.join(parts))
                _check_reachable(relative, real)
                return real, None
            if i < last and not stat.S_ISDIR(st.st_mode):
                raise CanvasPathError(relative, f"'{'/'.join(parts[:i + 1])}' is a file, not a folder")
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
                    try:
                        regular = entry.is_file()  # a FIFO, socket or device is never opened (a FIFO would block)
                    except OSError:
                        regular = False  # a symlink loop, a link into a folder that cannot be entered
                    if not regular:
                        continue
                    relative = os.path.relpath(entry.path, root).replace(os.sep, "/")
                    if not is_text(relative):
                        continue  # a name in bytes that are not UTF-8: no URL or JSON answer can name it
                    try:
                        yield relative, self.resolve(relative)
                    except (CanvasdError, OSError):
                        continue  # a symlink leading out of the vault, a path too long to write: not listed


def is_text(path: str) -> bool:
    """Whether a path from the file system is UTF-8 text (names in other bytes decode to lone surrogates,
    which no URL, JSON answer or event can carry)."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_refusal(path: str | os.PathLike[str], exc: OSError) -> CanvasdError | None:
    """The client's error for an OSError its path caused (None: the system failed, not the path)."""
    code = exc.errno
    if code == errno.ENOENT:
        return CanvasNotFoundError(path)
    if code == errno.ENAMETOOLONG:
        return InvalidPathError(path, "it is longer than the file system allows")
    if code == errno.ELOOP:
        return CanvasPathError(path, "its symlinks form a loop")
    if code == errno.ENOTDIR:
        return CanvasPathError(path, "a folder on its path is a file")
    if code == errno.EISDIR:
        return CanvasPathError(path, "it is a directory")
    if code in (errno.EACCES, errno.EPERM):
        return CanvasPathError(path, f"the file system refused access ({exc.strerror})")
    if code in (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):  # what opening a socket or device gives
        return CanvasPathError(path, "not a regular file")
    return None


def _component_refusal(relative: str, parts: list[str], i: int, exc: OSError) -> CanvasdError:
    """Why lstat of parts[i] failed, naming the folder to blame where one is."""
    folder = f"the folder '{'/'.join(parts[:i])}'" if i else "the vault folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return CanvasPathError(relative, f"{folder} cannot be entered ({exc.strerror})")
    if exc.errno == errno.ENOTDIR:
        return CanvasPathError(relative, f"{folder} is a file, not a folder")
    refusal = path_refusal(relative, exc)
    if refusal is None or isinstance(refusal, CanvasNotFoundError):
        raise exc
    return refusal


def _check_reachable(relative: str, real: str) -> None:
    """Refuse a resolved path no read or write can reach (missing is fine: a PUT creates it)."""
    try:
        os.stat(real)
    except FileNotFoundError:
        return
    except OSError as exc:
        refusal = path_refusal(relative, exc)
        if refusal is None or isinstance(refusal, CanvasNotFoundError):
            return  # the read or the write reports it
        if exc.errno == errno.ENAMETOOLONG:
            refusal = InvalidPathError(relative, "its symlinks lead to a path longer than the file system allows")
        raise refusal from None


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
