"""The daemon's listening sockets: one Unix socket per daemon (locked), and the optional loopback TCP port.

The socket's folder is 0700 and the socket 0600, so only the user reaches the API. A lock file next to the
socket says whether a daemon owns it: a socket left by a crashed daemon is removed, a live one is an error.

Every connection holds a file descriptor, so connections are counted against the open-file limit (raised to
the hard limit at start): `ConnectionGate` keeps FD_RESERVE descriptors for the daemon's own files and answers
connections beyond the rest with a JSON 503 (`too_many_connections`) before closing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import resource
import secrets
import socket
import stat
from pathlib import Path
from typing import Any, ClassVar

import orjson

from canvasd.errors import ConfigError, DaemonRunningError, TooManyConnectionsError

log = logging.getLogger(__name__)

_BACKLOG = 2048  # 1,000 clients connecting at once must not be refused
FD_RESERVE = 64
"""Descriptors kept for the daemon's own files (canvases being read and written, the index's tables, the pressure
sampler's /proc reads, logs) when the open-file limit is shared out among connections."""
MAX_LINGERING = 16  # refused connections kept open until their request arrives (well inside FD_RESERVE)
REFUSAL_LINGER_S = 1.0  # the longest a refused connection is kept open for its request
_UNLIMITED_FDS = 1 << 20  # what "no limit" is taken to mean
_RAISE_TARGETS = (65536, 10240)  # tried when the hard limit is not accepted as the soft one (macOS: OPEN_MAX)


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE as far toward the hard limit as the system accepts; the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return _UNLIMITED_FDS
    ceiling = _UNLIMITED_FDS if hard == resource.RLIM_INFINITY else hard
    for target in (ceiling, *(t for t in _RAISE_TARGETS if t < ceiling)):
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return target
    return soft


def open_file_budget(reserve: int = FD_RESERVE) -> int:
    """How many connections the daemon may hold open at once: the soft open-file limit (first raised, see
    `raise_open_file_limit`), less the descriptors open now and `reserve` for the daemon's own files; at least 1."""
    limit = raise_open_file_limit()
    return max(1, limit - _open_descriptors() - reserve)


def _open_descriptors() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return len(os.listdir(folder))
    return 0


class ConnectionGate:
    """Counts the connections of every listener of one daemon (descriptors are the process's) and refuses those
    beyond `limit`: each is answered 503 `too_many_connections` in the API's JSON error shape and closed, before
    uvicorn sees it, so refused connections hold descriptors only briefly (see `_GatedProtocol`).

    uvicorn's own `limit_concurrency` is not enough: it answers 503 in plain text, only once a request arrives,
    and counts no connection that stays idle, so idle clients could still use every descriptor up.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit  # None: set from open_file_budget() when the first listener is served
        self.open = 0
        self.refused = 0
        self.lingering = 0  # refused connections waiting for their request before they are closed
        self._refusing = False
        self._refusal: bytes | None = None

    def ensure_limit(self) -> int:
        """The limit, computed from the open-file budget the first time."""
        if self.limit is None:
            self.limit = open_file_budget()
            log.info("serving at most %d connections at once (open-file limit %d, %d descriptors kept for canvasd's "
                     "own files)", self.limit, raise_open_file_limit(), FD_RESERVE)
        return self.limit

    def protocol(self, inner: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
        """A uvicorn protocol class (`uvicorn.Config(http=...)`) that serves with `inner` within this gate."""
        self.ensure_limit()
        return type(f"Gated{inner.__name__}", (_GatedProtocol,), {"gate": self, "inner_class": inner})

    def admit(self) -> bool:
        """Count a new connection in, or say it must be refused."""
        limit = self.ensure_limit()
        if self.open < limit:
            self.open += 1
            return True
        self.refused += 1
        if not self._refusing:
            self._refusing = True
            log.warning("%d connections are open, as many as the open-file limit allows; new ones are answered 503 "
                        "until some close", self.open)
        return False

    def release(self) -> None:
        """A connection that was admitted has closed."""
        self.open -= 1
        if self._refusing and self.open <= (self.limit or 0) * 9 // 10:
            self._refusing = False
            log.info("accepting connections again (%d open, %d refused so far)", self.open, self.refused)

    def refusal(self) -> bytes:
        """The whole HTTP answer a refused connection gets."""
        if self._refusal is None:
            error = TooManyConnectionsError(self.ensure_limit())
            body = orjson.dumps({"error": {"code": error.code, "message": str(error), "details": error.details()}})
            head = (f"HTTP/1.1 {error.status} Service Unavailable\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n")
            self._refusal = head.encode() + body
        return self._refusal


class _GatedProtocol(asyncio.Protocol):
    """One connection: served by `inner_class` if the gate admits it, else answered 503 and closed.

    A refused connection is answered at once and closed when its request arrives (or after REFUSAL_LINGER_S):
    closing before the client has sent would fail its send (EPIPE), closing with its request unread would
    reset the connection. At most MAX_LINGERING wait like that; beyond them, refusals close at once.
    """

    gate: ClassVar[ConnectionGate]
    inner_class: ClassVar[type[asyncio.Protocol]]

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._inner: asyncio.Protocol | None = None
        self._refused: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        if not self.gate.admit():
            transport.write(self.gate.refusal())
            if self.gate.lingering >= MAX_LINGERING:
                transport.close()
                return
            self.gate.lingering += 1
            self._refused = transport
            self._timer = asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, transport.close)
            return
        self._inner = self.inner_class(**self._kwargs)
        self._kwargs = {}
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
        elif self._refused is not None:
            self._refused.close()  # the request is read: the answer is already on its way

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self.gate.release()
            self._inner.connection_lost(exc)
        elif self._refused is not None:
            self._refused = None
            self.gate.lingering -= 1
            if self._timer is not None:
                self._timer.cancel()

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class UnixListener:
    """The bound, locked Unix socket; `close()` removes the socket and releases the lock."""

    def __init__(self, path: Path, *, own_folder: bool) -> None:
        """`own_folder`: the socket's folder is canvasd's (the default), so it may be created and tightened."""
        self.path = path
        self.own_folder = own_folder
        self.lock_path = path.with_name(path.name + ".lock")
        self.sock: socket.socket | None = None
        self._lock_fd: int | None = None
        self.connections = ConnectionGate()  # shared with the TCP listener, if there is one

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
