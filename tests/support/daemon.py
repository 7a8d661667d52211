"""A real canvasd daemon in a subprocess on a temporary socket, driven over HTTP with httpx."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

READY_TIMEOUT = 20.0


class DaemonProcess:
    """One daemon: its folders, its process, and an httpx client on its socket."""

    def __init__(self, base: Path, *, config: dict[str, Any] | None = None, vaults: dict[str, Path] | None = None,
                 extra_args: list[str] | None = None) -> None:
        self.base = base
        # AF_UNIX paths are limited to ~108 bytes: keep the runtime folder short, outside pytest's long paths
        self.runtime = Path(tempfile.mkdtemp(prefix="cvd-"))
        self.data = base / "data"
        self.socket = self.runtime / "canvasd" / "canvasd.sock"
        self.vault = base / "vault"
        self.vault.mkdir(parents=True, exist_ok=True)
        self.vaults = vaults if vaults is not None else {"v": self.vault}
        self.config_file = base / "config.yaml"
        self.config = {"batch_writer": {"fsync": False, "window_ms": 20, "max_delay_ms": 200},
                       "watcher": {"debounce_ms": 20}, "daemon": {"log_format": "json"},
                       # the index and the memory graph have their own daemon tests; elsewhere they only cost CPU
                       "index": {"enabled": False}, "memory": {"enabled": False}}
        _merge(self.config, config or {})
        self.config_file.write_text(yaml.safe_dump(self.config))
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime), "XDG_DATA_HOME": str(self.data),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("CANVASD_DAEMON__SOCKET", None)
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / "daemon.log"
        self.client = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)),
                                   base_url="http://canvasd", timeout=30)

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "canvasd.cli", "serve", "--config", str(self.config_file)]
        for name, root in self.vaults.items():
            args += ["--vault", f"{name}={root}"]
        return args + self.extra_args

    def start(self) -> DaemonProcess:
        """Spawn the daemon and wait until /v1/health answers."""
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log()}")
            # probe with a plain socket first: httpcore leaks the socket of a refused connection
            if _accepts(self.socket):
                health = self.client.get("/v1/health")
                # ready when the API answers and the watcher (if on) has seen every vault: the feed is live
                if health.status_code == 200 and health.json()["subsystems"]["watcher"] in ("ready", "off"):
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"daemon not ready in {READY_TIMEOUT} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send `sig` and wait for the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def url(self, vault: str, path: str) -> str:
        from urllib.parse import quote

        return f"/v1/vaults/{quote(vault, safe='')}/canvases/{quote(path, safe='/')}"

    def metric(self, name: str) -> float:
        """A sample's value from /metrics (0 if absent)."""
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{}"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def close(self) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        shutil.rmtree(self.runtime, ignore_errors=True)


def _accepts(path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@contextlib.contextmanager
def running_daemon(base: Path, **kwargs: Any) -> Iterator[DaemonProcess]:
    """A started daemon, stopped (SIGTERM) at the end."""
    daemon = DaemonProcess(base, **kwargs)
    try:
        yield daemon.start()
    finally:
        daemon.close()


class EventStream:
    """Follows /v1/events on a raw socket in a background thread; `next()` returns parsed events in order.

    A raw socket (not httpx) so that `close()` can interrupt the blocked read at once with shutdown().
    """

    def __init__(self, daemon: DaemonProcess, since: int | None = None) -> None:
        import queue
        import socket
        import threading

        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(daemon.socket))
        query = "" if since is None else f"?since={since}"
        self._sock.sendall(f"GET /v1/events{query} HTTP/1.1\r\nHost: canvasd\r\n\r\n".encode())
        self._file = self._sock.makefile("rb")
        status = self._file.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        while self._file.readline() not in (b"\r\n", b""):
            pass  # headers
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._thread.start()

    def _chunks(self) -> Iterator[bytes]:
        """The body, de-chunked (Transfer-Encoding: chunked)."""
        while True:
            size = int(self._file.readline().strip() or b"0", 16)
            if size == 0:
                return
            yield self._file.read(size)
            self._file.readline()

    def _read(self) -> None:
        import json

        buffer = b""
        try:
            for chunk in self._chunks():
                buffer += chunk
                while b"\n\n" in buffer:
                    message, buffer = buffer.split(b"\n\n", 1)
                    fields: dict[str, str] = {}
                    for line in message.decode().split("\n"):
                        if line and not line.startswith(":"):
                            key, _, value = line.partition(":")
                            fields[key] = value.lstrip(" ")
                    if "data" in fields:
                        self.events.put({**json.loads(fields["data"]), "_id": fields.get("id"),
                                         "_event": fields.get("event")})
        except (OSError, ValueError):
            pass  # closed by the test or the daemon

    def next(self, timeout: float = 15.0) -> dict[str, Any]:
        return self.events.get(timeout=timeout)

    def until(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        """The first event matching `predicate` (skipping others)."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if predicate(event):
                return event

    def close(self) -> None:
        import socket

        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._file.close()
        self._sock.close()
