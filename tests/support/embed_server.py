"""A local embedding server speaking ollama's and OpenAI's protocols, on 127.0.0.1 and a free port.

For the remote providers' tests (`mode` picks a misbehaviour) and for daemons whose index must wait for its
embedder: with `mode = "held"` every request waits for `release`, so a test decides when the start goes on
instead of racing the model.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import xxhash

DIM = 8  # vector length the server answers with
HELD_S = 60.0  # how long a held request waits for `release` at most


def fake_vector(text: str, dim: int = DIM) -> list[float]:
    """A deterministic, deliberately not normalised vector for `text`."""
    digest = xxhash.xxh3_128_digest(text.encode("utf-8"))
    return [float(b % 7) + 1.0 for b in digest[:dim]]


class EmbedServer(ThreadingHTTPServer):
    """The server: every request is recorded; `mode` is ok, held, timeout, 500, nothttp, hangup, badjson,
    wrongcount, mixeddim or zero."""

    daemon_threads = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EmbedHandler)
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.asked = threading.Event()  # set by the first request
        self.release = threading.Event()
        self.active = 0
        self.max_active = 0
        self.hold = threading.Event()  # set: every request waits a moment, to give overlap a chance
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class EmbedHandler(BaseHTTPRequestHandler):
    server: EmbedServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        with server.lock:
            server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            server.active += 1
            server.max_active = max(server.max_active, server.active)
        self._counted = True
        server.asked.set()
        try:
            if server.hold.is_set():
                server.release.wait(0.02)
            self._answer(body)
        finally:
            self._done()

    def _done(self) -> None:
        """The call is over: uncounted before its answer is sent (the client may send its next call the moment
        it has the answer, before this handler's thread runs again)."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.server.lock:
                self.server.active -= 1

    def _answer(self, body: dict[str, Any]) -> None:
        mode, texts = self.server.mode, body["input"]
        if mode == "timeout":
            self.server.release.wait(10)
            return
        if mode == "held":
            self.server.release.wait(HELD_S)
        if mode == "500":
            return self._send(500, b'{"error": "model crashed"}')
        if mode == "nothttp":
            self.close_connection = True
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            return None
        if mode == "hangup":
            self.close_connection = True
            return None
        if mode == "badjson":
            return self._send(200, b"<html>not json</html>")
        vectors = [fake_vector(t) for t in texts]
        if mode == "wrongcount":
            vectors = vectors[:-1]
        if mode == "mixeddim":
            vectors[-1] = vectors[-1] + [1.0]
        if mode == "zero":
            vectors[0] = [0.0] * DIM
        if self.path == "/api/embed":
            answer: dict[str, Any] = {"model": body["model"], "embeddings": vectors}
        elif self.path == "/v1/embeddings":
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
            answer = {"object": "list", "data": list(reversed(data)), "model": body["model"]}
        else:
            return self._send(404, b'{"error": "no such path"}')
        self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self._done()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def serving(mode: str = "ok") -> Iterator[EmbedServer]:
    """A running server in `mode`; at the end every held request is released and every thread joined."""
    server = EmbedServer()
    server.mode = mode
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="embed-server")
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
