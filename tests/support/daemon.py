"""One canvasd daemon in a subprocess, for the tests and the benchmarks alike.

`DaemonProcess` gives the daemon its own vaults, data folder (`XDG_DATA_HOME`), runtime folder and so socket
(`XDG_RUNTIME_DIR`, kept short for AF_UNIX), and config file, and speaks to it with an httpx client on the
socket. Tests take TEST_DEFAULTS (quick writes; the index and the memory graph off) with their own settings
merged over them. A benchmark passes `test_defaults=False` and exactly the config it measures (None: no
config file, the daemon's built-in defaults). It also measures: `start()` returns the seconds to ready,
`stop()` the seconds the shutdown took, `cpu_s()` and `memory()` sample the process (psutil, imported only
then). Only the standard library is imported with this module: httpx when a daemon is made.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    import psutil

READY_TIMEOUT = 60.0  # only bounds a hang: a healthy daemon is ready in about a second
STOP_TIMEOUT = 30.0
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_SUFFIXES = ("_bucket", "_count", "_sum")  # of a histogram's samples, after the name its `# TYPE` line declares
TEST_DEFAULTS: dict[str, Any] = {
    "batch_writer": {"fsync": False, "window_ms": 20, "max_delay_ms": 200},
    "watcher": {"debounce_ms": 20},
    "daemon": {"log_format": "json"},
    # the index and the memory graph have their own daemon tests; elsewhere they only cost CPU
    "index": {"enabled": False},
    "memory": {"enabled": False},
    # spaced repetition has its own daemon tests; elsewhere its "review" events and review canvases would intrude
    "review": {"enabled": False},
}


def canvasd_command() -> list[str]:
    """The `canvasd` console script beside this Python (as users start it), else `python -m canvasd.cli`."""
    script = Path(sys.executable).parent / "canvasd"
    return [str(script)] if script.exists() else [sys.executable, "-m", "canvasd.cli"]


def short_temp_dir(prefix: str = "cvd-") -> Path:
    """A new private temporary folder with room for a socket path inside, even where TMPDIR is long."""
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) > SOCKET_PATH_MAX // 2 and os.path.isdir("/tmp"):
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


class DaemonProcess:
    """One `canvasd serve`: its folders, its process, and an httpx client on its socket.

    `base` holds the data folder, the config file, the log and (unless `vaults` names others) the vault "v"
    (`self.vault`). `config` is merged over TEST_DEFAULTS, or with `test_defaults=False` written as it is
    (None: no config file). `label` names it in errors (default: the folder's name). `nofile` starts it with that
    RLIMIT_NOFILE, (soft, hard) or one number for both; `fsize` with that RLIMIT_FSIZE (bytes), so a write past it
    is refused by the kernel (EFBIG) for any user, root included.
    """

    def __init__(self, base: Path, *, config: dict[str, Any] | None = None, vaults: dict[str, Path] | None = None,
                 extra_args: list[str] | None = None, test_defaults: bool = True, label: str | None = None,
                 nofile: int | tuple[int, int] | None = None, fsize: int | None = None) -> None:
        import httpx

        self.base = base
        self.label = label or base.name
        self.base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime = short_temp_dir()  # AF_UNIX paths are short: outside pytest's (or a bench's) long paths
        self.data = base / "data"
        self.socket = self.runtime / "canvasd" / "canvasd.sock"
        if vaults is None:
            vaults = {"v": base / "vault"}
            vaults["v"].mkdir(exist_ok=True)
        self.vaults = vaults
        self.vault = next(iter(vaults.values()))
        self.config: dict[str, Any] | None = None
        if test_defaults:
            self.config = copy.deepcopy(TEST_DEFAULTS)
            _merge(self.config, config or {})
        elif config is not None:
            self.config = config
        self.config_file: Path | None = None
        if self.config is not None:
            self.config_file = base / "config.yaml"
            self.config_file.write_text(json.dumps(self.config, indent=2))  # JSON is YAML
        # no CANVASD_* setting of whoever runs this leaks in: only the config file speaks
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CANVASD_")}
        self.env.update(XDG_RUNTIME_DIR=str(self.runtime), XDG_DATA_HOME=str(self.data), PYTHONUNBUFFERED="1")
        self.extra_args = extra_args or []
        self.nofile = (nofile, nofile) if isinstance(nofile, int) else nofile
        self.fsize = fsize
        self.proc: subprocess.Popen[bytes] | None = None
        self._ps: psutil.Process | None = None
        self.log_path = base / "daemon.log"
        self.client: httpx.Client = httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)),
                                                 base_url="http://canvasd", timeout=30)

    # ------------------------------------------------------------------------------------------- lifecycle

    def command(self) -> list[str]:
        args = [*canvasd_command(), "serve"]
        if self.config_file is not None:
            args += ["--config", str(self.config_file)]
        for name, root in self.vaults.items():
            args += ["--vault", f"{name}={root}"]
        return args + self.extra_args

    def start(self, timeout: float = READY_TIMEOUT, *, wait_watcher: bool = True) -> float:
        """Spawn the daemon; the seconds until /v1/health answers 200 (and, with `wait_watcher`, the watcher
        has scanned every vault, so the change feed is live)."""
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(self.command(), env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, preexec_fn=self._limits())
        self._ps = None
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} daemon exited with {self.proc.returncode} before it was ready:\n"
                                   f"{self.log_tail()}")
            # probe with a plain socket first: httpcore leaks the socket of a refused connection
            if _accepts(self.socket):
                with contextlib.suppress(OSError, ValueError, KeyError, _http_errors()):
                    health = self.client.get("/v1/health")
                    if health.status_code == 200 and (
                            not wait_watcher or health.json()["subsystems"]["watcher"] in ("ready", "off")):
                        return time.perf_counter() - started
            time.sleep(0.01)
        raise RuntimeError(f"{self.label} daemon not ready in {timeout:g} s:\n{self.log_tail()}")

    def wait_background(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until no subsystem reports `starting` (or `timeout` passes); the last health answer."""
        deadline = time.monotonic() + timeout
        while True:
            health: dict[str, Any] = self.get_json("/v1/health")
            if "starting" not in health.get("subsystems", {}).values() or time.monotonic() > deadline:
                return health
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> float | None:
        """Send `sig` and wait for the exit; the seconds that took (None: it was not running). A daemon still
        running after `timeout` is killed, and TimeoutExpired raised. The exit status is `returncode`."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        started = time.perf_counter()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        return time.perf_counter() - started

    def _limits(self) -> Callable[[], None] | None:
        """What the child runs before exec: set RLIMIT_NOFILE / RLIMIT_FSIZE when `nofile` / `fsize` was given."""
        if self.nofile is None and self.fsize is None:
            return None
        import resource

        nofile, fsize = self.nofile, self.fsize

        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
            if fsize is not None:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG instead
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

        return limit

    @property
    def returncode(self) -> int | None:
        """The exit status of the last process (None while it runs or before the first start)."""
        return None if self.proc is None else self.proc.poll()

    def close(self) -> None:
        """Stop the daemon if it runs (SIGTERM), close the client, remove the runtime folder."""
        try:
            self.client.close()
            self.stop()
        finally:
            shutil.rmtree(self.runtime, ignore_errors=True)

    # ------------------------------------------------------------------------------------------- asking

    def url(self, vault: str, path: str) -> str:
        from urllib.parse import quote

        return f"/v1/vaults/{quote(vault, safe='')}/canvases/{quote(path, safe='/')}"

    def get_json(self, target: str) -> Any:
        """GET `target`: the parsed JSON body of a 200 (anything else raises)."""
        response = self.client.get(target)
        if response.status_code != 200:
            raise RuntimeError(f"{self.label}: GET {target} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def metric(self, name: str) -> float:
        """A sample from /metrics: `family{label="x",...}` exactly, or a bare family name summed over every label
        set (0 if absent). A family /metrics does not declare raises KeyError, so a misspelt name is an error."""
        text = self.client.get("/metrics").text
        family = name.split("{", 1)[0]
        declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
        if not any(family == base or (family.startswith(base) and family[len(base):] in _SUFFIXES)
                   for base in declared):
            raise KeyError(f"{self.label}: /metrics has no metric {family!r}")
        total = 0.0
        for line in text.splitlines():
            if "{" in name:
                if line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
            elif line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT,
                 poll: float = 0.05) -> float:
        """Poll `condition` until it holds; the seconds that took. Raises TimeoutError (with the log's tail)."""
        started = time.perf_counter()
        while not condition():
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{self.label}: {what} did not happen in {timeout:g} s:\n{self.log_tail()}")
            time.sleep(poll)
        return time.perf_counter() - started

    # ------------------------------------------------------------------------------------------- measuring

    @property
    def ps(self) -> psutil.Process:
        """The running daemon as a psutil.Process."""
        import psutil

        assert self.proc is not None, "the daemon was never started"
        if self._ps is None or self._ps.pid != self.proc.pid:
            self._ps = psutil.Process(self.proc.pid)
        return self._ps

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the daemon and every process it started."""
        import psutil

        total = 0.0
        for proc in (self.ps, *self.ps.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def memory(self) -> tuple[float, float | None]:
        """(RSS, peak RSS) of the daemon in MB; the peak only where /proc tells it."""
        rss = self.ps.memory_info().rss / 2**20
        peak = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{self.ps.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
        return rss, peak

    def log(self) -> str:
        """Everything the daemon printed, over every start."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:]) or "(no log)"


def _http_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def _accepts(path: Path) -> bool:
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
        daemon.start()
        yield daemon
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
