"""HTTP/1.1 load generator over a Unix socket: keep-alive connections sending requests back to back.

wrk does not speak Unix sockets and httpx spends more CPU per request than the server under test, so this
is a raw client: one asyncio Protocol per connection (uvloop), a minimal response parser (status line,
headers, Content-Length or chunked body) and the next request written from the callback that completed the
previous one. With many connections the load is spread over worker processes so the client is not the
bottleneck on a small machine; every worker reports its own CPU time.

    .venv/bin/python bench/loadgen.py --socket /tmp/s.sock --path /v1/health -c 32 -d 5

The library entry points are `run_load` (a load run) and `request` (one blocking request, for set-up and
metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import resource
import socket
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_HEAD = 64 * 1024  # a response head larger than this is a protocol error, not a slow server
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER = range(5)


def build_request(method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: canvasd"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise the soft RLIMIT_NOFILE towards `wanted` (capped by the hard limit); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    return values[max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))]


# ----------------------------------------------------------------------------------------- the client


class _Run:
    """What the connections of one process share: the plan, the clock limits and the counters."""

    def __init__(self, requests: Sequence[bytes], *, deadline_ns: int, per_connection: int, record_from_ns: int,
                 timeout_s: float) -> None:
        self.requests = requests
        self.deadline_ns = deadline_ns          # no request is sent after this (0: none)
        self.per_connection = per_connection    # requests each connection sends (0: until the deadline)
        self.record_from_ns = record_from_ns    # requests sent before this are warm-up, not recorded
        self.timeout_s = timeout_s
        self.latencies = array("q")
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.bytes_in = 0
        self.reconnects = 0
        self.last_done_ns = 0
        self.tasks: set[asyncio.Task[None]] = set()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses the response, sends the next, until told to stop."""

    def __init__(self, run: _Run, path: str, offset: int) -> None:
        self.run = run
        self.path = path
        self.index = offset
        self.sent = 0
        self.done: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = _HEAD
        self.remaining = 0
        self.status = 0
        self.close_after = False
        self.t_sent = 0
        self.in_flight = False
        self.lost = False

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports do not subclass asyncio's
        self.lost = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.transport = None
        if self.in_flight:
            self.in_flight = False
            if self.buf or self.state != _HEAD:
                kind = "closed mid-response"
            else:
                kind = "closed before response" if exc is None else type(exc).__name__
            self.run.errors[kind] += 1
            self._finish()
        elif self.done is not None and not self.done.done() and self._more():
            # The server closed an idle keep-alive connection (keep-alive timeout): reconnect, not an error.
            self.reconnect()

    def data_received(self, data: bytes) -> None:
        self.run.bytes_in += len(data)
        if not self.in_flight:
            self._fail("unsolicited data")
            return
        buf = self.buf
        if self.state == _BODY and not buf and len(data) < self.remaining:
            self.remaining -= len(data)  # the bulk of a large body: count it, never copy it
            return
        buf += data
        try:
            self._parse()
        except ValueError as exc:
            self._fail(f"bad response: {exc}")

    # -- parsing

    def _parse(self) -> None:
        buf = self.buf
        while True:
            state = self.state
            if state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ValueError("response head too large")
                    return
                self._head(bytes(buf[:end]))
                del buf[:end + 4]
            elif state == _BODY:
                if len(buf) < self.remaining:
                    self.remaining -= len(buf)
                    buf.clear()
                    return
                if len(buf) > self.remaining:
                    raise ValueError("data after the response")
                buf.clear()
                self.remaining = 0
                self._complete()
                return
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
                del buf[:end + 2]
                if size == 0:
                    self.state = _TRAILER
                else:
                    self.remaining = size + 2  # the data and its CRLF
                    self.state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                if len(buf) < self.remaining:
                    self.remaining -= len(buf)
                    buf.clear()
                    return
                del buf[:self.remaining]
                self.remaining = 0
                self.state = _CHUNK_SIZE
            else:  # _TRAILER: header lines until an empty one
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                del buf[:end + 2]
                if end == 0:
                    if buf:
                        raise ValueError("data after the response")
                    self._complete()
                    return

    def _head(self, head: bytes) -> None:
        if not head.startswith(b"HTTP/1."):
            raise ValueError(f"not an HTTP/1.x status line: {head[:40]!r}")
        status = int(head[9:12])
        if 100 <= status < 200:
            raise ValueError(f"unexpected interim response {status}")
        self.status = status
        lower = head.lower()
        self.close_after = b"\r\nconnection: close" in lower or head.startswith(b"HTTP/1.0")
        if status in (204, 304):
            self.remaining = 0
            self.state = _BODY
            return
        i = lower.find(b"\r\ncontent-length:")
        if i >= 0:
            j = lower.find(b"\r\n", i + 2)
            self.remaining = int(lower[i + 17:j if j >= 0 else None])
            self.state = _BODY
        elif b"\r\ntransfer-encoding:" in lower and b"chunked" in lower:
            self.state = _CHUNK_SIZE
        else:
            raise ValueError("response has neither Content-Length nor chunked encoding")

    # -- the request loop

    def _more(self) -> bool:
        run = self.run
        if run.per_connection and self.sent >= run.per_connection:
            return False
        return not (run.deadline_ns and time.perf_counter_ns() >= run.deadline_ns)

    def send(self) -> None:
        run = self.run
        request = run.requests[self.index % len(run.requests)]
        self.index += 1
        self.sent += 1
        self.in_flight = True
        self.state = _HEAD
        self.t_sent = time.perf_counter_ns()
        assert self.transport is not None
        self.transport.write(request)

    def _complete(self) -> None:
        now = time.perf_counter_ns()
        run = self.run
        self.in_flight = False
        self.state = _HEAD
        if self.t_sent >= run.record_from_ns:
            run.latencies.append(now - self.t_sent)
            run.statuses[self.status] += 1
            if not (200 <= self.status < 300 or self.status == 304):
                run.errors[f"HTTP {self.status}"] += 1
            run.last_done_ns = now
        if not self._more():
            self._finish()
        elif self.close_after:
            if self.transport is not None:
                self.transport.close()  # connection_lost is not an error now: nothing is in flight
        else:
            self.send()

    def _fail(self, kind: str) -> None:
        self.run.errors[kind] += 1
        self.in_flight = False
        if self.transport is not None:
            self.transport.abort()
        self._finish()

    def _finish(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def reconnect(self) -> None:
        """Open the connection again in the background, then go on sending."""
        self.run.reconnects += 1
        task = asyncio.get_running_loop().create_task(self._reconnect())
        self.run.tasks.add(task)
        task.add_done_callback(self.run.tasks.discard)

    async def _reconnect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_unix_connection(lambda: self, self.path)
        except OSError as exc:
            self.run.errors[f"reconnect {type(exc).__name__}"] += 1
            self._finish()
            return
        self.send()


async def _open(run: _Run, path: str, n: int, offset: int, connect_timeout_s: float) -> list[_Connection]:
    """Open `n` connections at once; failed ones are counted and left out."""
    loop = asyncio.get_running_loop()

    async def one(i: int) -> _Connection | None:
        conn = _Connection(run, path, offset + i * 7919)  # a prime stride: connections start at different requests
        try:
            async with asyncio.timeout(connect_timeout_s):
                await loop.create_unix_connection(lambda: conn, path)
        except (OSError, TimeoutError) as exc:
            run.errors[f"connect {type(exc).__name__}"] += 1
            return None
        return conn

    opened = await asyncio.gather(*(one(i) for i in range(n)))
    return [c for c in opened if c is not None]


async def _drive(run: _Run, conns: list[_Connection], grace_s: float) -> None:
    """Start every connection and wait until all have finished (or the grace after the deadline ran out)."""
    loop = asyncio.get_running_loop()
    for conn in conns:
        conn.done = loop.create_future()
    for conn in conns:
        if conn.lost:  # closed by the server while waiting for the start signal
            conn.reconnect()
        else:
            conn.send()
    waits = [c.done for c in conns if c.done is not None]
    timeout = None
    if run.deadline_ns:
        timeout = (run.deadline_ns - time.perf_counter_ns()) / 1e9 + grace_s
    elif run.timeout_s:
        timeout = run.timeout_s * max(1, run.per_connection)
    pending: set[asyncio.Future[None]] = set()
    if waits:  # none when every connection failed to open
        _, pending = await asyncio.wait(waits, timeout=max(0.0, timeout) if timeout is not None else None)
    for conn in conns:
        if conn.in_flight:
            run.errors["timeout"] += 1
            conn.in_flight = False
        if conn.transport is not None:
            conn.transport.close()
    for fut in pending:
        fut.cancel()
    await asyncio.sleep(0)  # let the transports close


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class _Part:
    """What one process measured."""

    latencies: bytes
    statuses: dict[int, int]
    errors: dict[str, int]
    connected: int
    bytes_in: int
    reconnects: int
    start_ns: int
    last_done_ns: int
    cpu_s: float
    connect_s: float


async def _part(path: str, requests: Sequence[bytes], connections: int, offset: int, *, duration_s: float,
                per_connection: int, warmup_s: float, timeout_s: float, connect_timeout_s: float,
                wait_for_go: Any = None) -> _Part:
    run = _Run(requests, deadline_ns=0, per_connection=per_connection, record_from_ns=0, timeout_s=timeout_s)
    t0 = time.perf_counter()
    conns = await _open(run, path, connections, offset, connect_timeout_s)
    connect_s = time.perf_counter() - t0
    if wait_for_go is not None:
        await wait_for_go(len(conns))
    cpu0 = _cpu_s()
    start = time.perf_counter_ns()
    run.record_from_ns = start + int(warmup_s * 1e9)
    if duration_s:
        run.deadline_ns = start + int((warmup_s + duration_s) * 1e9)
    await _drive(run, conns, grace_s=timeout_s)
    return _Part(latencies=run.latencies.tobytes(), statuses=dict(run.statuses), errors=dict(run.errors),
                 connected=len(conns), bytes_in=run.bytes_in, reconnects=run.reconnects,
                 start_ns=run.record_from_ns, last_done_ns=run.last_done_ns, cpu_s=_cpu_s() - cpu0,
                 connect_s=connect_s)


def _event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed with the daemon's fast path
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _worker(pipe: Any, path: str, requests: Sequence[bytes], connections: int, offset: int,
            kwargs: dict[str, Any]) -> None:
    """A worker process: open the connections, report ready, wait for `go`, run, send the result back."""
    raise_nofile_limit()

    async def wait_for_go(opened: int) -> None:
        pipe.send(("ready", opened))
        loop = asyncio.get_running_loop()
        go: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not go.done():
                go.set_result(None)

        loop.add_reader(pipe.fileno(), readable)
        await go
        loop.remove_reader(pipe.fileno())
        os.set_blocking(pipe.fileno(), True)  # the loop made it non-blocking; the result is sent with a plain write
        pipe.recv()

    try:
        with asyncio.Runner(loop_factory=_event_loop) as runner:
            part = runner.run(_part(path, requests, connections, offset, wait_for_go=wait_for_go, **kwargs))
        pipe.send(("result", asdict(part)))
    except BaseException as exc:
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        pipe.close()


# ------------------------------------------------------------------------------------------- results


@dataclass
class LoadResult:
    """One load run: latency percentiles over recorded requests, throughput, errors, and the client's CPU.

    `requests` counts answered requests after the warm-up; `errors` counts those answered with anything but 2xx or
    304, plus requests that got no answer (connection refused or closed, malformed response, timeout).
    """

    connections: int
    workers: int
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    client_cpu_s: float
    client_cpu_pct: float                 # of one core, summed over workers (200 = two cores busy)
    connected: int
    connect_s: float                      # opening every connection (before the first request), slowest worker
    reconnects: int
    bytes_in: int                         # every response byte, warm-up included
    statuses: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merge(parts: list[_Part], connections: int, workers: int) -> LoadResult:
    lat = array("q")
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for part in parts:
        lat.frombytes(part.latencies)
        statuses.update(part.statuses)
        errors.update(part.errors)
    ordered = sorted(lat)
    start = min((p.start_ns for p in parts), default=0)
    end = max((p.last_done_ns for p in parts), default=0)
    elapsed = max(end - start, 1) / 1e9 if ordered else 0.0
    cpu = sum(p.cpu_s for p in parts)

    def ms(ns: float) -> float:
        return round(ns / 1e6, 3)

    return LoadResult(
        connections=connections, workers=workers, requests=len(ordered), errors=sum(errors.values()),
        elapsed_s=round(elapsed, 3), rps=round(len(ordered) / elapsed, 1) if elapsed else 0.0,
        p50_ms=ms(pct(ordered, 0.50)) if ordered else None, p95_ms=ms(pct(ordered, 0.95)) if ordered else None,
        p99_ms=ms(pct(ordered, 0.99)) if ordered else None, max_ms=ms(ordered[-1]) if ordered else None,
        mean_ms=ms(sum(ordered) / len(ordered)) if ordered else None,
        client_cpu_s=round(cpu, 3), client_cpu_pct=round(100 * cpu / elapsed, 1) if elapsed else 0.0,
        connected=sum(p.connected for p in parts),
        connect_s=round(max(p.connect_s for p in parts), 3), reconnects=sum(p.reconnects for p in parts),
        bytes_in=sum(p.bytes_in for p in parts),
        statuses={str(k): v for k, v in sorted(statuses.items())}, error_kinds=dict(errors),
    )


def default_workers(connections: int) -> int:
    """One process below 32 connections, else two (never more than the CPUs)."""
    return 1 if connections < 32 else max(1, min(2, os.cpu_count() or 1))


def run_load(path: str | os.PathLike[str], requests: bytes | Sequence[bytes], *, connections: int = 1,
             duration_s: float = 0.0, per_connection: int = 0, warmup_s: float = 0.0, workers: int | None = None,
             timeout_s: float = 30.0, connect_timeout_s: float = 10.0, on_go: Callable[[], Any] | None = None,
             on_done: Callable[[], Any] | None = None) -> LoadResult:
    """Load the server on Unix socket `path` with keep-alive connections sending `requests` back to back.

    requests: one request's bytes (see `build_request`) or several, which each connection cycles through
        from its own starting point.
    connections: connections open at once; all are opened before the first request is sent.
    duration_s: stop sending after warm-up plus this long; or
    per_connection: send exactly this many requests on each connection (then the run ends when all finish).
    warmup_s: requests sent in this first stretch are not recorded (duration runs only).
    workers: client processes (default: 1 below 32 connections, else 2); connections are split between them.
    timeout_s: a response taking longer than this (after the deadline) counts as an error.
    on_go, on_done: called right before the first request is sent (every connection open) and right after the
        last response, e.g. to sample the server's CPU time over exactly the loaded stretch.
    """
    if not duration_s and not per_connection:
        raise ValueError("give duration_s or per_connection")
    reqs = [requests] if isinstance(requests, bytes) else list(requests)
    workers = max(1, min(workers or default_workers(connections), connections))
    kwargs: dict[str, Any] = {"duration_s": duration_s, "per_connection": per_connection, "warmup_s": warmup_s,
              "timeout_s": timeout_s, "connect_timeout_s": connect_timeout_s}
    sock = os.fspath(path)
    if workers == 1:
        raise_nofile_limit()

        async def go(_opened: int) -> None:
            if on_go is not None:
                on_go()

        with asyncio.Runner(loop_factory=_event_loop) as runner:
            part = runner.run(_part(sock, reqs, connections, 0, wait_for_go=go, **kwargs))
        if on_done is not None:
            on_done()
        return _merge([part], connections, 1)
    # spawn, not fork: the caller may hold threads (a forked child would inherit their locks).
    ctx = multiprocessing.get_context("spawn")
    shares = [connections // workers + (1 if w < connections % workers else 0) for w in range(workers)]
    pipes, procs = [], []
    try:
        for w, share in enumerate(shares):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, sock, reqs, share, w * 104729, kwargs), daemon=True)
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        for pipe in pipes:
            kind, value = pipe.recv()
            if kind != "ready":
                raise RuntimeError(f"load worker failed while connecting: {value}")
        if on_go is not None:
            on_go()
        for pipe in pipes:
            pipe.send("go")
        parts = []
        for pipe in pipes:
            kind, value = pipe.recv()
            if kind != "result":
                raise RuntimeError(f"load worker failed: {value}")
            parts.append(_Part(**value))
        if on_done is not None:
            on_done()
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    return _merge(parts, connections, workers)


# ------------------------------------------------------------------------------------- single requests


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(path: str | os.PathLike[str], method: str, target: str, *, body: bytes = b"",
            headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> Response:
    """One blocking request on a fresh connection (set-up, health checks, metrics); not for load."""
    hdrs = {"Connection": "close", **(headers or {})}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(os.fspath(path))
        s.sendall(build_request(method, target, body=body, headers=hdrs))
        data = bytearray()
        while True:
            chunk = s.recv(262144)
            if not chunk:
                break
            data += chunk
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                length = _content_length(bytes(data[:head_end]))
                if length is not None and len(data) >= head_end + 4 + length:
                    break
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        raise ConnectionError(f"incomplete response to {method} {target}: {bytes(data[:80])!r}")
    lines = bytes(data[:head_end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers_out = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers_out[name.strip().lower()] = value.strip()
    raw = bytes(data[head_end + 4:])
    if "chunked" in headers_out.get("transfer-encoding", ""):
        raw = _dechunk(raw)
    return Response(status, headers_out, raw)


def _content_length(head: bytes) -> int | None:
    lower = head.lower()
    i = lower.find(b"\r\ncontent-length:")
    if i < 0:
        return 0 if lower[9:12] in (b"204", b"304") else None
    j = lower.find(b"\r\n", i + 2)
    return int(lower[i + 17:j if j >= 0 else None])


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while True:
        end = raw.index(b"\r\n", pos)
        size = int(raw[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += raw[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


# ------------------------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, help="Unix socket of the server")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/v1/health", help="request target, e.g. /v1/health")
    parser.add_argument("--body", default="", help="request body (sent with Content-Type: application/json)")
    parser.add_argument("-H", "--header", action="append", default=[], help="extra header 'Name: value'")
    parser.add_argument("-c", "--connections", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=0.0, help="seconds (default 5 unless -n)")
    parser.add_argument("-n", "--per-connection", type=int, default=0, help="requests per connection")
    parser.add_argument("-w", "--workers", type=int, default=None, help="client processes (default 1 or 2)")
    parser.add_argument("--warmup", type=float, default=0.5, help="unrecorded seconds first (duration runs)")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    headers = {k.strip(): v.strip() for k, v in headers.items()}
    body = args.body.encode()
    if body:
        headers.setdefault("Content-Type", "application/json")
    req = build_request(args.method, args.path, body=body, headers=headers)
    duration = args.duration or (0.0 if args.per_connection else 5.0)
    result = run_load(args.socket, req, connections=args.connections, duration_s=duration,
                      per_connection=args.per_connection, warmup_s=args.warmup if duration else 0.0,
                      workers=args.workers)
    r = result
    print(f"{r.connections} connections, {r.workers} worker(s): {r.requests} requests in {r.elapsed_s:.2f} s = "
          f"{r.rps:.0f} req/s; latency p50 {r.p50_ms} ms, p95 {r.p95_ms} ms, p99 {r.p99_ms} ms, max {r.max_ms} ms; "
          f"errors {r.errors} {r.error_kinds or ''}; client CPU {r.client_cpu_pct:.0f}% of a core")
    print(json.dumps(result.to_dict(), separators=(",", ":")))
    return 0 if result.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
