"""The daemon's listening sockets: one Unix socket per daemon (locked), and the optional loopback TCP port.

The socket's folder is 0700 and the socket 0600, so only the user reaches the API. A lock file next to the
socket says whether a daemon owns it: a socket left by a crashed daemon is removed, a live one is an error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import socket
import stat
from pathlib import Path

from canvasd.errors import ConfigError, DaemonRunningError

_BACKLOG = 2048  # 1,000 clients connecting at once must not be refused


class UnixListener:
    """The bound, locked Unix socket; `close()` removes the socket and releases the lock."""

    def __init__(self, path: Path, *, own_folder: bool) -> None:
        """`own_folder`: the socket's folder is canvasd's (the default), so it may be created and tightened."""
        self.path = path
        self.own_folder = own_folder
        self.lock_path = path.with_name(path.name + ".lock")
        self.sock: socket.socket | None = None
        self._lock_fd: int | None = None

    def open(self) -> socket.socket:
        """Prepare the folder, take the lock, clear a stale socket, bind and listen."""
        prepare_private_dir(self.path.parent, tighten=self.own_folder)
        self._lock()
        if self.path.exists() or self.path.is_symlink():
            if _answers(self.path):
                raise DaemonRunningError(self.path, _read_pid(self.lock_path))
            self.path.unlink()  # left by a daemon that died without cleaning up
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # never visible with wider permissions, not even for an instant
        try:
            sock.bind(os.fspath(self.path))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot listen on {self.path}: {exc.strerror}", source="daemon.socket") from exc
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
        self.sock = sock
        return sock

    def _lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DaemonRunningError(self.path, _read_pid(self.lock_path)) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Stop listening, remove the socket, release the lock (idempotent)."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
            os.close(self._lock_fd)
            self._lock_fd = None


def prepare_private_dir(directory: Path, *, tighten: bool) -> None:
    """Create `directory` as 0700, or check that an existing one is ours and private.

    An existing folder others can enter is tightened to 0700 only with `tighten` (canvasd's own folder);
    a folder the user chose is never changed: the daemon refuses it instead.
    """
    created = not directory.exists()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{directory} must be a real folder, not a symlink or a file", source="daemon.socket")
    if st.st_uid != os.getuid():
        raise ConfigError(f"{directory} belongs to another user (uid {st.st_uid}); refusing to put the socket "
                          "there", source="daemon.socket")
    if stat.S_IMODE(st.st_mode) & 0o077:
        if not (tighten or created):
            raise ConfigError(f"{directory} is accessible to other users (mode {stat.S_IMODE(st.st_mode):o}); "
                              "put the socket in a private (0700) folder", source="daemon.socket")
        os.chmod(directory, 0o700)


def _answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at `path`."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(os.fspath(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _read_pid(lock_path: Path) -> int | None:
    try:
        return int(lock_path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def open_tcp_listener(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (loopback only, never all interfaces)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", source="http.tcp_port") from exc
    sock.listen(_BACKLOG)
    sock.setblocking(False)
    return sock


def load_or_create_token(path: Path) -> str:
    """The bearer token in `path` (0600), created with 256 random bits if absent."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        st = os.stat(path)
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, 0o600)  # a token others can read is no secret: tighten it
        token = path.read_text().strip()
        if len(token) < 16:
            raise ConfigError(f"the token in {path} is too short (at least 16 characters)",
                              source="http.token_file") from None
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
