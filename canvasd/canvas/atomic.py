"""Atomic, durable file replacement: temp file in the same directory, fsync, rename, fsync the directory.

Readers see the old file or the new one, never a mix; after a crash the target is one or the other.
Temp files carry the writer's pid, so files left by a killed process are recognised and swept.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from canvasd.canvas.vaults import path_refusal
from canvasd.errors import CanvasdError, CanvasPathError, CanvasWriteError, DiskFullError, WritePermissionError

TEMP_SUFFIX = ".canvasd.tmp"
TEMP_STEM_BYTES = 100  # of the canvas's name kept in its temp file's, so a long name still fits NAME_MAX
_PATH_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EISDIR})
_TEMP_RE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + "$")


class TargetChangedError(Exception):
    """The target changed after it was read; the caller should re-read and try again."""


def _fsync(fd: int) -> None:
    if sys.platform == "darwin":  # fsync on macOS does not reach the disk; F_FULLFSYNC does
        import fcntl

        fcntl.fcntl(fd, fcntl.F_FULLFSYNC)
    else:
        os.fsync(fd)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def write_error(path: Path, exc: OSError) -> CanvasdError:
    """The canvasd error for a file-system failure while writing `path` (a path that cannot be written at
    all, e.g. through a symlink loop, is the client's problem, not a failed write)."""
    if exc.errno in _PATH_ERRNOS:
        refusal = path_refusal(path, exc)
        if refusal is not None:
            return refusal
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(path, reason, exc.errno)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return WritePermissionError(path, reason, exc.errno)
    return CanvasWriteError(path, reason, exc.errno)


def replace_file(target: Path, data: bytes, *, fsync: bool, unchanged: Callable[[], bool] = lambda: True,
                 kept: Callable[[os.stat_result], bool] | None = None) -> os.stat_result:
    """Atomically make `data` the content of `target`, keeping its mode; returns the new file's stat.

    `unchanged` is called just before the rename; if it returns False the temp file is removed and
    TargetChangedError raised. On any error no temp file is left behind and the target is untouched.
    A symlinked canvas stays a symlink: the file it points to is replaced.

    A program that saves by rewriting the file in place (as Obsidian does) can still do so between that check
    and a rename. With `kept` (is this stat still the file the caller read?), the new file is swapped in
    atomically where the platform can (renameat2 RENAME_EXCHANGE, renamex_np RENAME_SWAP) and the file it
    replaced is checked after the swap: if it changed, it is swapped back at once and TargetChangedError raised,
    so no save is ever replaced unseen.
    """
    if os.path.islink(target):
        target = Path(os.path.realpath(target))
    temp = target.with_name(temp_name(target.name))
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise write_error(target, exc) from None
    if old is not None and not stat.S_ISREG(old.st_mode):  # a FIFO, socket, device or folder is never replaced
        raise CanvasPathError(target, "not a regular file")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        try:
            if old is not None:
                _keep_owner_and_mode(fd, old)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                _fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if kept is not None:
            _exchange_function()  # looked up before the check, so the first commit's window is as short as any
        if not unchanged():
            raise TargetChangedError(str(target))
        if kept is None or old is None or not exchange_files(temp, target):
            os.replace(temp, target)
        else:
            try:
                if not kept(os.lstat(temp)):  # the file now at `temp` is the one that was at `target`
                    exchange_files(temp, target)  # changed after the check: it goes back, untouched
                    raise TargetChangedError(str(target))
            finally:
                os.unlink(temp)  # the replaced file, or (swapped back) ours
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise write_error(target, exc) from None
        raise
    if fsync:
        try:
            fsync_directory(target.parent)
        except OSError as exc:
            raise write_error(target, exc) from None
    return st


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 0x2  # macOS sys/stdio.h
_NO_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV})
_exchange: Callable[[bytes, bytes], int] | bool | None = False  # False: not looked up yet; None: unavailable


def exchange_files(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system or the file system cannot (the caller renames)."""
    swap = _exchange_function()
    if swap is None:
        return False
    if swap(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    import ctypes

    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(b))


def _exchange_function() -> Callable[[bytes, bytes], int] | None:
    global _exchange
    if _exchange is False:
        _exchange = _load_exchange()
    return _exchange  # type: ignore[return-value]


def _load_exchange() -> Callable[[bytes, bytes], int] | None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's, without a library search
    except OSError:
        return None
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        renameat2 = libc.renameat2
        return lambda a, b: int(renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE))
    if sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        renamex_np = libc.renamex_np
        return lambda a, b: int(renamex_np(a, b, _RENAME_SWAP))
    return None


def temp_name(name: str) -> str:
    """The name of a commit's temp file next to canvas `name`: `.<name>.<pid>.<random>.canvasd.tmp`, with the
    name cut to TEMP_STEM_BYTES (on a character boundary) so that it fits wherever the canvas's name fits."""
    stem = os.fsencode(name)
    if len(stem) > TEMP_STEM_BYTES:
        name = stem[:TEMP_STEM_BYTES].decode("utf-8", "ignore") or "canvas"
    return f".{name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(PermissionError):  # only root may give a file away; then keep ours
            os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, old.st_mode & 0o7777)


def delete_file(target: Path, *, fsync: bool) -> None:
    """Remove `target` durably."""
    try:
        os.unlink(target)
        if fsync:
            fsync_directory(target.parent)
    except OSError as exc:
        raise write_error(target, exc) from None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temp_files(directory: Path) -> list[Path]:
    """Remove temp files left in `directory` by writers that are no longer running; returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match and not _alive(int(match.group(1))):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed
